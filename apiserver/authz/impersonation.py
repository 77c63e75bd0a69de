"""Impersonation (``Impersonate-User``, ``-Group``, ``-Uid``, ``-Extra-*`` headers, ``kubectl --as``): each
requested attribute is authorized with verb ``impersonate`` before the request runs as the impersonated user."""

from __future__ import annotations

from collections.abc import Mapping

from apiserver.authn.serviceaccount import service_account_groups, split_service_account_username
from apiserver.authn.types import ALL_AUTHENTICATED, UserInfo
from apiserver.authz.types import Attributes, Authorizer, Decision

EXTRA_PREFIX = "impersonate-extra-"


class ImpersonationError(Exception):
    http_code = 403
    reason = "Forbidden"


def _headers(headers: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in headers.items():
        out.setdefault(key.lower(), []).extend([value] if isinstance(value, str) else list(value))
    return out


def impersonate(requester: UserInfo, headers: Mapping[str, str | list[str]],
                authorizer: Authorizer) -> UserInfo | None:
    """The user to act as, or None when no impersonation header is present. Raises ImpersonationError with
    kube-apiserver's message when any requested attribute is not allowed."""
    h = _headers(headers)
    users = h.get("impersonate-user", [])
    groups = h.get("impersonate-group", [])
    uids = h.get("impersonate-uid", [])
    extras = {k[len(EXTRA_PREFIX):]: v for k, v in h.items() if k.startswith(EXTRA_PREFIX)}
    if not users and not groups and not uids and not extras:
        return None
    if not users:
        raise ImpersonationError("requested [" + ", ".join(groups + uids) + "] without impersonating a user")
    if len(users) > 1 or len(uids) > 1:
        raise ImpersonationError("only one Impersonate-User and one Impersonate-Uid may be given")
    name = users[0]

    def check(resource: str, value: str, group: str = "", sub: str = "", ns: str = "") -> None:
        attrs = Attributes(requester, "impersonate", group, resource, sub, ns, value)
        if authorizer.authorize(attrs)[0] != Decision.ALLOW:
            qualified = resource + (f".{group}" if group else "")
            res = resource + (f"/{sub}" if sub else "")
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            raise ImpersonationError(f'{qualified} "{value}" is forbidden: User "{requester.name}" cannot '
                                     f'impersonate resource "{res}" in API group "{group}"{where}')

    sa = split_service_account_username(name)
    if sa is not None:
        check("serviceaccounts", sa[1], ns=sa[0])
    else:
        check("users", name)
    for g in groups:
        check("groups", g)
    for u in uids:
        check("uids", u, "authentication.k8s.io")
    for key, values in extras.items():
        for v in values:
            check("userextras", v, "authentication.k8s.io", key)
    final_groups = list(groups)
    if sa is not None and not groups:
        final_groups = list(service_account_groups(sa[0]))
    if name != "system:anonymous" and ALL_AUTHENTICATED not in final_groups:
        final_groups.append(ALL_AUTHENTICATED)
    return UserInfo(name, uids[0] if uids else "", tuple(final_groups), {k: tuple(v) for k, v in extras.items()})
