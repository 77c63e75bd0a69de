"""Mutating/ValidatingAdmissionWebhook: the AdmissionReview v1 request a webhook receives, the checks on its
response, JSONPatch application, rule/selector matching and failurePolicy. The HTTPS call is the ``transport``
callable given to ``call_webhook`` (url, request body dict, timeout seconds, the hook's base64 PEM ``caBundle`` or
"") -> response body dict; it raises any exception on transport failure."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from apiserver.admission.types import AdmissionError, Attributes, InternalError, Operation, Plugin, State
from apiserver.authz.rbac import label_selector_matches
from apiserver.errors import APIError
from apiserver.patch import json_patch

Obj = dict[str, Any]
REVIEW_API = "admission.k8s.io/v1"
DEFAULT_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 30
Transport = Callable[[str, Obj, float, str], Obj]


class WebhookDenied(AdmissionError):
    """A webhook said no. Its code defaults to 403, as kube-apiserver does when the webhook gives none."""

    http_code = 403
    reason = "Forbidden"

    def __init__(self, message: str, code: int = 403, reason: str = "") -> None:
        super().__init__(message)
        self.http_code = code
        self.reason = reason or ("Forbidden" if code == 403 else "BadRequest")


def review_request(attrs: Attributes, uid: str) -> Obj:
    """The AdmissionReview the API server POSTs to a webhook."""
    request: Obj = {
        "uid": uid,
        "kind": {"group": attrs.api_group, "version": attrs.api_version, "kind": attrs.kind},
        "resource": {"group": attrs.api_group, "version": attrs.api_version, "resource": attrs.resource},
        "requestKind": {"group": attrs.api_group, "version": attrs.api_version, "kind": attrs.kind},
        "requestResource": {"group": attrs.api_group, "version": attrs.api_version, "resource": attrs.resource},
        "name": attrs.name, "namespace": attrs.namespace, "operation": attrs.operation.value,
        "userInfo": attrs.user.to_dict(), "object": attrs.object, "oldObject": attrs.old_object,
        "dryRun": attrs.dry_run, "options": None,
    }
    if attrs.subresource:
        request["subResource"] = attrs.subresource
        request["requestSubResource"] = attrs.subresource
    return {"apiVersion": REVIEW_API, "kind": "AdmissionReview", "request": request}


def parse_response(name: str, uid: str, body: Obj, obj: Obj | None, mutating: bool) -> Obj | None:
    """Checks a webhook's AdmissionReview response. Returns the patched object (mutating webhooks), None when the
    object is unchanged; raises WebhookDenied when not allowed, InternalError when the response is malformed."""
    if not isinstance(body, dict) or body.get("apiVersion") != REVIEW_API or body.get("kind") != "AdmissionReview":
        raise InternalError(f'Internal error occurred: failed calling webhook "{name}": expected response '
                            f'apiVersion "{REVIEW_API}" kind "AdmissionReview"')
    resp = body.get("response")
    if not isinstance(resp, dict):
        raise InternalError(f'Internal error occurred: failed calling webhook "{name}": webhook response was absent')
    if resp.get("uid") != uid:
        raise InternalError(f'Internal error occurred: failed calling webhook "{name}": expected response.uid='
                            f'"{uid}", got "{resp.get("uid")}"')
    if not resp.get("allowed"):
        status = resp.get("status") or {}
        msg = status.get("message") or ""
        text = f'admission webhook "{name}" denied the request' + (f": {msg}" if msg else " without explanation")
        raise WebhookDenied(text, int(status.get("code") or 403), status.get("reason", ""))
    patch = resp.get("patch")
    if patch is None:
        return None
    if not mutating:
        raise InternalError(f'Internal error occurred: validating webhook "{name}" may not return a patch')
    if resp.get("patchType") != "JSONPatch":
        raise InternalError(f'Internal error occurred: webhook "{name}" returned unsupported patchType '
                            f'"{resp.get("patchType")}"')
    try:
        ops = json.loads(base64.b64decode(patch))
        return json_patch(obj, ops)
    except (ValueError, APIError) as exc:
        raise InternalError(f'Internal error occurred: webhook "{name}" returned an invalid patch: {exc}') from exc


def _rule_matches(rule: Obj, attrs: Attributes) -> bool:
    def match(values: list[str], value: str) -> bool:
        return "*" in values or value in values

    if not match(rule.get("operations") or [], attrs.operation.value):
        return False
    if not match(rule.get("apiGroups") or [], attrs.api_group):
        return False
    if not match(rule.get("apiVersions") or [], attrs.api_version):
        return False
    combined = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    resources = rule.get("resources") or []
    if not ("*/*" in resources or combined in resources or (not attrs.subresource and "*" in resources)
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)
            or (attrs.subresource and f"{attrs.resource}/*" in resources)):
        return False
    scope = rule.get("scope", "*")
    return scope == "*" or (scope == "Namespaced") == bool(attrs.namespace)


def webhook_applies(hook: Obj, attrs: Attributes, namespace_labels: dict[str, str] | None) -> bool:
    """rules, namespaceSelector and objectSelector. (matchConditions, being CEL, are not evaluated here.)"""
    if not any(_rule_matches(r, attrs) for r in hook.get("rules") or []):
        return False
    ns_sel = hook.get("namespaceSelector") or {}
    if ns_sel and attrs.namespace and not label_selector_matches(ns_sel, namespace_labels or {}):
        return False
    obj_sel = hook.get("objectSelector") or {}
    if obj_sel:
        new_labels = ((attrs.object or {}).get("metadata") or {}).get("labels") or {}
        old_labels = ((attrs.old_object or {}).get("metadata") or {}).get("labels") or {}
        if not (label_selector_matches(obj_sel, new_labels) or
                (attrs.old_object is not None and label_selector_matches(obj_sel, old_labels))):
            return False
    return True


def call_webhook(hook: Obj, attrs: Attributes, uid: str, transport: Transport, mutating: bool) -> None:
    """Calls one webhook and applies its verdict to ``attrs`` (patching ``attrs.object`` for mutating hooks).
    Transport failures and malformed responses honour ``failurePolicy`` (default Fail)."""
    name = hook.get("name", "")
    client = hook.get("clientConfig") or {}
    url = client.get("url") or ""
    if not url and client.get("service"):
        svc = client["service"]
        url = f"https://{svc['name']}.{svc['namespace']}.svc:{svc.get('port', 443)}{svc.get('path', '')}"
    timeout = min(float(hook.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)), MAX_TIMEOUT_SECONDS)
    try:
        try:
            body = transport(url, review_request(attrs, uid), timeout, str(client.get("caBundle") or ""))
        except Exception as exc:  # noqa: BLE001 — any transport failure is a webhook call failure
            raise InternalError(f'Internal error occurred: failed calling webhook "{name}": {exc}') from exc
        patched = parse_response(name, uid, body, attrs.object, mutating)
    except WebhookDenied:
        raise
    except InternalError:
        if hook.get("failurePolicy", "Fail") == "Ignore":
            return
        raise
    if patched is not None:
        attrs.object = patched


class _WebhookPlugin(Plugin):
    kind = ""

    def __init__(self, state: State, transport: Transport, uid: Callable[[], str]) -> None:
        super().__init__(state)
        self.transport = transport
        self.uid = uid

    def _run(self, attrs: Attributes, mutating: bool) -> None:
        if attrs.api_group == "admissionregistration.k8s.io":
            return  # webhooks never judge webhook configurations, so a broken hook can always be removed
        configs = self.state.list(self.kind, "")
        ns = self.state.get("namespaces", "", attrs.namespace) if attrs.namespace else None
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        for cfg in sorted(configs, key=lambda c: c["metadata"]["name"]):
            for hook in cfg.get("webhooks") or []:
                if webhook_applies(hook, attrs, labels):
                    call_webhook(hook, attrs, self.uid(), self.transport, mutating)


class MutatingAdmissionWebhook(_WebhookPlugin):
    name = "MutatingAdmissionWebhook"
    kind = "mutatingwebhookconfigurations"
    mutating = True
    operations = frozenset(Operation)

    def admit(self, attrs: Attributes) -> None:
        self._run(attrs, True)


class ValidatingAdmissionWebhook(_WebhookPlugin):
    name = "ValidatingAdmissionWebhook"
    kind = "validatingwebhookconfigurations"
    validating = True

    def validate(self, attrs: Attributes) -> None:
        self._run(attrs, False)
