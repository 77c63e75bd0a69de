"""Admission: mutating then validating plugins over an Attributes view of each write, enabled by name."""

from apiserver.admission.chain import DEFAULT_PLUGINS, ORDERED_PLUGINS, Chain, build_chain
from apiserver.admission.types import (
    AdmissionError,
    Attributes,
    BadRequest,
    DictState,
    Forbidden,
    InternalError,
    Invalid,
    NotFound,
    Operation,
    Plugin,
    State,
)

__all__ = ["DEFAULT_PLUGINS", "ORDERED_PLUGINS", "AdmissionError", "Attributes", "BadRequest", "Chain", "DictState",
           "Forbidden", "InternalError", "Invalid", "NotFound", "Operation", "Plugin", "State", "build_chain"]
