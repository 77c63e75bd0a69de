"""AlwaysAdmit and AlwaysDeny: the trivial plugins, kept for flag compatibility and tests."""

from __future__ import annotations

from apiserver.admission.types import Attributes, Forbidden, Plugin


class AlwaysAdmit(Plugin):
    name = "AlwaysAdmit"


class AlwaysDeny(Plugin):
    name = "AlwaysDeny"
    mutating = True
    validating = True

    def admit(self, attrs: Attributes) -> None:
        raise Forbidden("admission control is denying all modifications")

    validate = admit
