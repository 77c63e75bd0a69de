"""AlwaysPullImages: every container pulls its image, so a pod cannot use another tenant's cached private image."""

from __future__ import annotations

from apiserver.admission.types import Attributes, Operation, Plugin, invalid

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


class AlwaysPullImages(Plugin):
    name = "AlwaysPullImages"
    operations = frozenset({Operation.CREATE, Operation.UPDATE})
    mutating = True
    validating = True

    def _applies(self, attrs: Attributes) -> bool:
        return attrs.api_group == "" and attrs.resource == "pods" and attrs.subresource in ("", "ephemeralcontainers") \
            and attrs.object is not None

    def admit(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        spec = attrs.object.get("spec") or {}  # type: ignore[union-attr]
        for key in CONTAINER_LISTS:
            for c in spec.get(key) or []:
                c["imagePullPolicy"] = "Always"

    def validate(self, attrs: Attributes) -> None:
        if not self._applies(attrs):
            return
        spec = attrs.object.get("spec") or {}  # type: ignore[union-attr]
        errors = []
        for key in CONTAINER_LISTS:
            for i, c in enumerate(spec.get(key) or []):
                policy = c.get("imagePullPolicy", "")
                if policy != "Always":
                    errors.append((f"spec.{key}[{i}].imagePullPolicy",
                                   f'Unsupported value: "{policy}": supported values: "Always"'))
        if errors:
            raise invalid(attrs, "Pod", errors)
