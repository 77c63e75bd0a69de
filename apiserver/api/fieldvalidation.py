"""Unknown-field detection for `fieldValidation=Strict|Warn` against the v1.32 definitions; pure.

kube-apiserver's strict decoding reports each unknown field by its path, e.g.
`unknown field "spec.template.spec.containers[0].imagee"`. Strict turns the list into a 400
BadRequest; Warn returns it as `Warning` headers; Ignore (and a missing schema) skips the walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_REPORTED = 100
FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0], defs)
    return schema


def unknown_fields(obj: Any, schema_name: str, defs: Mapping[str, Any], *, prune: bool = False) -> list[str]:
    """Paths of fields the schema does not know; with `prune`, also drop them from `obj` in place,
    as kube-apiserver's decoder does for built-in types."""
    out: list[str] = []
    if schema_name in defs:
        _walk(obj, defs[schema_name], defs, "", out, prune)
    return out[:MAX_REPORTED]


def _walk(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], path: str, out: list[str],
          prune: bool) -> None:
    schema = _resolve(schema, defs)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for k, v in list(value.items()):
            sub = f"{path}.{k}" if path else k
            if props is not None and k in props:
                _walk(v, props[k], defs, sub, out, prune)
            elif isinstance(extra, Mapping):
                _walk(v, extra, defs, sub, out, prune)
            elif props is not None and extra is not True:
                out.append(sub)
                if prune:
                    del value[k]
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            _walk(item, schema["items"], defs, f"{path}[{i}]", out, prune)


# Go types of string fields whose type is a named string type (the schema says only "string")
NAMED_STRING_TYPES = {
    ("Container", "imagePullPolicy"): "v1.PullPolicy", ("Container", "terminationMessagePolicy"):
        "v1.TerminationMessagePolicy", ("ContainerPort", "protocol"): "v1.Protocol",
    ("ServicePort", "protocol"): "v1.Protocol", ("PodSpec", "restartPolicy"): "v1.RestartPolicy",
    ("PodSpec", "dnsPolicy"): "v1.DNSPolicy", ("PodSpec", "preemptionPolicy"): "v1.PreemptionPolicy",
    ("ServiceSpec", "type"): "v1.ServiceType", ("ServiceSpec", "sessionAffinity"): "v1.ServiceAffinity",
    ("ServiceSpec", "externalTrafficPolicy"): "v1.ServiceExternalTrafficPolicy",
    ("ServiceSpec", "internalTrafficPolicy"): "v1.ServiceInternalTrafficPolicy",
    ("ServiceSpec", "ipFamilyPolicy"): "v1.IPFamilyPolicy", ("ServiceSpec", "ipFamilies"): "v1.IPFamily",
    ("DeploymentStrategy", "type"): "v1.DeploymentStrategyType", ("JobSpec", "completionMode"): "v1.CompletionMode",
    ("CronJobSpec", "concurrencyPolicy"): "v1.ConcurrencyPolicy", ("Secret", "type"): "v1.SecretType",
    ("Toleration", "operator"): "v1.TolerationOperator", ("Toleration", "effect"): "v1.TaintEffect",
    ("Taint", "effect"): "v1.TaintEffect", ("ObjectMeta", "uid"): "types.UID", ("OwnerReference", "uid"): "types.UID",
    ("PersistentVolumeClaimSpec", "accessModes"): "v1.PersistentVolumeAccessMode",
    ("PersistentVolumeClaimSpec", "volumeMode"): "v1.PersistentVolumeMode",
}
# types with their own JSON decoding (numbers and strings both, or a string checked elsewhere): not walked
OWN_DECODING = ("io.k8s.apimachinery.pkg.api.resource.Quantity", "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
                "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
                "io.k8s.apimachinery.pkg.runtime.RawExtension", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1")
_RANGES = {"int32": (-(2 ** 31), 2 ** 31 - 1), "int64": (-(2 ** 63), 2 ** 63 - 1)}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_type(schema: Mapping[str, Any], defs: Mapping[str, Any], named: str = "") -> str:
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        package, _, short = name.rpartition(".")
        return f"{package.rsplit('.', 1)[-1]}.{short}"
    kind = schema.get("type")
    if kind == "array":
        return "[]" + _go_type(schema.get("items") or {}, defs, named)
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return "map[string]" + _go_type(schema["additionalProperties"], defs, named)
    if kind == "integer":
        return str(schema.get("format") or "int64")
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    if kind == "string" and schema.get("format") == "byte":
        return "[]uint8"
    return named or "string"


def decode_error(obj: Any, schema_name: str, defs: Mapping[str, Any]) -> str:
    """The first value whose JSON type does not fit the v1.32 Go type, as encoding/json (and so kube-apiserver's
    decoder) reports it: `json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type
    string` (the struct holding the field, the field path without indexes or map keys); "" when none."""
    if schema_name not in defs or not isinstance(obj, dict):
        return ""
    return _struct(obj, schema_name, defs, ())


def _struct(value: dict[str, Any], name: str, defs: Mapping[str, Any], path: tuple[str, ...]) -> str:
    schema = defs.get(name) or {}
    props = schema.get("properties")
    if not isinstance(props, Mapping) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return ""
    short = name.rsplit(".", 1)[-1]
    for k, v in value.items():
        if k in props:
            err = _value(v, props[k], defs, short, (*path, k), NAMED_STRING_TYPES.get((short, k), ""))
            if err:
                return err
    return ""


def _value(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], struct: str, path: tuple[str, ...],
           named: str) -> str:
    if value is None or schema.get("x-kubernetes-preserve-unknown-fields") or "oneOf" in schema:
        return ""

    def error(shown: str) -> str:
        return (f"json: cannot unmarshal {shown} into Go struct field {struct}.{'.'.join(path)} of type "
                f"{_go_type(schema, defs, named)}")
    ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name) or {}
        if name in OWN_DECODING or "properties" not in target:
            return ""
        return _struct(value, name, defs, path) if isinstance(value, dict) else error(_json_kind(value))
    kind = schema.get("type")
    if kind == "array":
        if not isinstance(value, list):
            return error(_json_kind(value))
        items = schema.get("items") or {}
        for item in value:
            err = _value(item, items, defs, struct, path, named)
            if err:
                return err
        return ""
    if kind == "object":
        extra = schema.get("additionalProperties")
        if not isinstance(value, dict):
            return error(_json_kind(value))
        if isinstance(extra, Mapping):
            for v in value.values():
                err = _value(v, extra, defs, struct, path, named)
                if err:
                    return err
        return ""
    if kind == "string":
        return "" if isinstance(value, str) else error(_json_kind(value))
    if kind == "boolean":
        return "" if isinstance(value, bool) else error(_json_kind(value))
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return error(_json_kind(value))
        low, high = _RANGES.get(str(schema.get("format")), _RANGES["int64"])
        if isinstance(value, float) or not low <= value <= high:
            return error(f"number {value}")
        return ""
    if kind == "number":
        return "" if isinstance(value, (int, float)) and not isinstance(value, bool) else error(_json_kind(value))
    return ""
