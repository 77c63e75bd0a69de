"""Authorization: may this user do this verb on this resource. Pure decisions over lister state."""

from apiserver.authz.types import Attributes, Authorizer, Decision, forbidden_message
from apiserver.authz.union import UnionAuthorizer

__all__ = ["Attributes", "Authorizer", "Decision", "UnionAuthorizer", "forbidden_message"]
