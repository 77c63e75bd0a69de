"""PodSecurity: enforces the Pod Security Standards (privileged, baseline, restricted) chosen by the namespace
label ``pod-security.kubernetes.io/enforce``, refusing pods with kube-apiserver's message shape:
``violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), privileged (container "c" ...)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from apiserver.admission.types import Attributes, Operation, Plugin, State, forbidden

Obj = dict[str, Any]
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
WARN_LABEL = "pod-security.kubernetes.io/warn"
WARN_VERSION_LABEL = "pod-security.kubernetes.io/warn-version"
LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
                          "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                     "persistentVolumeClaim", "projected", "secret"})


def _containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or []) + list(
        spec.get("ephemeralContainers") or [])


def _names(label: str, names: list[str]) -> str:
    plural = label + ("s" if len(names) > 1 else "")
    return f"{plural} " + ", ".join(f'"{n}"' for n in names)


def _sc(c: Obj) -> Obj:
    return c.get("securityContext") or {}


Check = Callable[[Obj, Obj], str | None]


def host_namespaces(meta: Obj, spec: Obj) -> str | None:
    bad = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return f"host namespaces ({', '.join(bad)})" if bad else None


def privileged(meta: Obj, spec: Obj) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged")]
    return f"privileged ({_names('container', bad)} must not set securityContext.privileged=true)" if bad else None


def baseline_capabilities(meta: Obj, spec: Obj) -> str | None:
    bad_names, caps = [], []
    for c in _containers(spec):
        added = [a for a in (_sc(c).get("capabilities") or {}).get("add") or [] if a not in BASELINE_CAPABILITIES]
        if added:
            bad_names.append(c["name"])
            caps += [a for a in added if a not in caps]
    if not bad_names:
        return None
    return (f"non-default capabilities ({_names('container', bad_names)} must not include "
            f"{', '.join(repr(a).replace(chr(39), chr(34)) for a in caps)} in securityContext.capabilities.add)")


def host_path(meta: Obj, spec: Obj) -> str | None:
    bad = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    return f"hostPath volumes ({_names('volume', bad)})" if bad else None


def host_ports(meta: Obj, spec: Obj) -> str | None:
    names, ports = [], []
    for c in _containers(spec):
        hp = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if hp:
            names.append(c["name"])
            ports += hp
    if not names:
        return None
    return f"hostPort ({_names('container', names)} uses {'hostPorts' if len(ports) > 1 else 'hostPort'} " \
           f"{', '.join(ports)})"


def seccomp_baseline(meta: Obj, spec: Obj) -> str | None:
    msgs = []
    if ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type") == "Unconfined":
        msgs.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    bad = [c["name"] for c in _containers(spec) if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"]
    if bad:
        msgs.append(f'{_names("container", bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    return f"seccompProfile ({'; '.join(msgs)})" if msgs else None


def sysctls(meta: Obj, spec: Obj) -> str | None:
    bad = [s["name"] for s in (spec.get("securityContext") or {}).get("sysctls") or [] if s["name"] not in SAFE_SYSCTLS]
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


def proc_mount(meta: Obj, spec: Obj) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("procMount", "Default") != "Default"]
    return f"procMount ({_names('container', bad)} must not set securityContext.procMount to \"Unmasked\")" \
        if bad else None


def restricted_volumes(meta: Obj, spec: Obj) -> str | None:
    msgs = []
    for v in spec.get("volumes") or []:
        kinds = [k for k in v if k != "name"]
        for k in kinds:
            if k not in RESTRICTED_VOLUME_TYPES:
                msgs.append(f'volume "{v["name"]}" uses restricted volume type "{k}"')
    return f"restricted volume types ({', '.join(msgs)})" if msgs else None


def allow_privilege_escalation(meta: Obj, spec: Obj) -> str | None:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    return (f"allowPrivilegeEscalation != false ({_names('container', bad)} must set "
            f"securityContext.allowPrivilegeEscalation=false)") if bad else None


def restricted_capabilities(meta: Obj, spec: Obj) -> str | None:
    drop_bad, add_bad, added = [], [], []
    for c in _containers(spec):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            drop_bad.append(c["name"])
        extra = [a for a in caps.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            add_bad.append(c["name"])
            added += [a for a in extra if a not in added]
    msgs = []
    if drop_bad:
        msgs.append(f'{_names("container", drop_bad)} must set securityContext.capabilities.drop=["ALL"]')
    if add_bad:
        msgs.append(f"{_names('container', add_bad)} must not include "
                    f"{', '.join(chr(34) + a + chr(34) for a in added)} in securityContext.capabilities.add")
    return f"unrestricted capabilities ({'; '.join(msgs)})" if msgs else None


def run_as_non_root(meta: Obj, spec: Obj) -> str | None:
    pod_level = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit_false = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    unset = [c["name"] for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None]
    msgs = []
    if pod_level is False:
        msgs.append("pod must not set securityContext.runAsNonRoot=false")
    if explicit_false:
        msgs.append(f"{_names('container', explicit_false)} must not set securityContext.runAsNonRoot=false")
    if pod_level is None and unset:
        msgs.append(f"pod or {_names('container', unset)} must set securityContext.runAsNonRoot=true")
    return f"runAsNonRoot != true ({'; '.join(msgs)})" if msgs else None


def run_as_user(meta: Obj, spec: Obj) -> str | None:
    msgs = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        msgs.append("pod must not set runAsUser=0")
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        msgs.append(f"{_names('container', bad)} must not set runAsUser=0")
    return f"runAsUser=0 ({'; '.join(msgs)})" if msgs else None


def seccomp_restricted(meta: Obj, spec: Obj) -> str | None:
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    ok = ("RuntimeDefault", "Localhost")
    msgs = []
    if pod_type is not None and pod_type not in ok:
        msgs.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    bad = [c["name"] for c in _containers(spec)
           if (_sc(c).get("seccompProfile") or {}).get("type") not in ok + (None,)]
    if bad:
        msgs.append(f'{_names("container", bad)} must not set securityContext.seccompProfile.type to "Unconfined"')
    if pod_type is None:
        unset = [c["name"] for c in _containers(spec) if (_sc(c).get("seccompProfile") or {}).get("type") is None]
        if unset:
            msgs.append(f'pod or {_names("container", unset)} must set securityContext.seccompProfile.type to '
                        f'"RuntimeDefault" or "Localhost"')
    return f"seccompProfile ({'; '.join(msgs)})" if msgs else None


# Reported in the order of the checks' ids within each level (baseline first), as kube-apiserver reports them:
# "host namespaces (...), hostPath volumes (...), privileged (...)".
BASELINE_CHECKS: tuple[Check, ...] = (baseline_capabilities, host_namespaces, host_path, host_ports, privileged,
                                      proc_mount, seccomp_baseline, sysctls)
RESTRICTED_CHECKS: tuple[Check, ...] = (allow_privilege_escalation, restricted_capabilities, restricted_volumes,
                                        run_as_non_root, run_as_user, seccomp_restricted)
# At the restricted level these baseline checks are replaced by their stricter restricted counterparts.
OVERRIDDEN_BY_RESTRICTED = frozenset({baseline_capabilities, host_path, seccomp_baseline})


def evaluate(level: str, pod: Obj) -> list[str]:
    """The violation strings of ``pod`` against ``level``, in reporting order; empty when it complies."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}")
    if level == "privileged":
        return []
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    checks = BASELINE_CHECKS
    if level == "restricted":
        checks = tuple(c for c in BASELINE_CHECKS if c not in OVERRIDDEN_BY_RESTRICTED) + RESTRICTED_CHECKS
    out: list[str] = []
    for check in checks:
        msg = check(meta, spec)
        if msg and msg not in out:
            out.append(msg)
    return out


class PodSecurity(Plugin):
    """Enforces the ``enforce`` label; the ``warn`` label's violations are left on ``last_warnings`` as the
    ``Warning`` header texts (``would violate PodSecurity ...``). Exemptions follow the admission config's
    ``exemptions`` (usernames, namespaces, runtimeClasses)."""

    name = "PodSecurity"
    operations = frozenset({Operation.CREATE, Operation.UPDATE})
    validating = True

    def __init__(self, state: State, exempt_usernames: Sequence[str] = (), exempt_namespaces: Sequence[str] = (),
                 exempt_runtime_classes: Sequence[str] = ()) -> None:
        super().__init__(state)
        self.exempt_usernames = frozenset(exempt_usernames)
        self.exempt_namespaces = frozenset(exempt_namespaces)
        self.exempt_runtime_classes = frozenset(exempt_runtime_classes)
        self.last_warnings: list[str] = []

    def _exempt(self, attrs: Attributes) -> bool:
        runtime_class = ((attrs.object or {}).get("spec") or {}).get("runtimeClassName")
        return (attrs.user.name in self.exempt_usernames or attrs.namespace in self.exempt_namespaces
                or (runtime_class is not None and runtime_class in self.exempt_runtime_classes))

    def validate(self, attrs: Attributes) -> None:
        self.last_warnings = []
        if not attrs.is_core("pods") or attrs.object is None or self._exempt(attrs):
            return
        if attrs.operation == Operation.UPDATE and attrs.old_object is not None and \
                (attrs.old_object.get("spec") == attrs.object.get("spec")):
            return  # metadata/status-only updates are not re-evaluated
        ns = self.state.get("namespaces", "", attrs.namespace) or {}
        labels = (ns.get("metadata") or {}).get("labels") or {}
        warn_level = labels.get(WARN_LABEL, "privileged")
        if warn_level in LEVELS:
            warn_version = labels.get(WARN_VERSION_LABEL, "latest")
            found = evaluate(warn_level, attrs.object)
            if found:
                self.last_warnings = [f'would violate PodSecurity "{warn_level}:{warn_version}": '
                                      f'{", ".join(found)}']
        level = labels.get(ENFORCE_LABEL, "privileged")
        version = labels.get(ENFORCE_VERSION_LABEL, "latest")
        if level not in LEVELS:
            return  # invalid labels are reported on the namespace, not enforced on pods
        violations = evaluate(level, attrs.object)
        if violations:
            raise forbidden(attrs, f'violates PodSecurity "{level}:{version}": {", ".join(violations)}')
