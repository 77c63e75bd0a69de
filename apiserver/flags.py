"""kube-apiserver flags that raftkv-apiserver accepts and ignores; pure.

Deployments written for kube-apiserver (kubeadm's static pod manifest, distribution units) pass flags for
features this server does not have (front-proxy request headers, audit logs, profiling ...).
`split_accepted` takes those out of the command line, checks each value as kube-apiserver's flag type would
(pflag's messages), and leaves everything else to the real parser, which still refuses flags nobody knows.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

BOOL, INT, FLOAT, STRING, STRINGS, DURATION, MAP_BOOL, MAP_STRING = (
    "bool", "int", "float", "string", "strings", "duration", "mapStringBool", "mapStringString")

# name -> pflag type, for kube-apiserver 1.32 flags that have no effect here
NO_EFFECT: dict[str, str] = {
    # kubeadm's generated manifest
    "allow-privileged": BOOL, "enable-bootstrap-token-auth": BOOL,
    "kubelet-timeout": DURATION,
    "requestheader-username-headers": STRINGS, "requestheader-group-headers": STRINGS,
    "requestheader-extra-headers-prefix": STRINGS,
    "requestheader-client-ca-file": STRING, "requestheader-allowed-names": STRINGS,
    "proxy-client-cert-file": STRING, "proxy-client-key-file": STRING, "enable-aggregator-routing": BOOL,
    # authentication and authorization features not implemented
    "service-account-lookup": BOOL, "service-account-extend-token-expiration": BOOL,
    "service-account-max-token-expiration": DURATION, "service-account-jwks-uri": STRING,
    "authentication-token-webhook-config-file": STRING, "authentication-token-webhook-cache-ttl": DURATION,
    "authentication-token-webhook-version": STRING, "authentication-config": STRING,
    "authorization-webhook-config-file": STRING, "authorization-webhook-cache-authorized-ttl": DURATION,
    "authorization-webhook-cache-unauthorized-ttl": DURATION, "authorization-webhook-version": STRING,
    "authorization-config": STRING, "authorization-policy-file": STRING,
    "oidc-issuer-url": STRING, "oidc-client-id": STRING, "oidc-ca-file": STRING, "oidc-username-claim": STRING,
    "oidc-username-prefix": STRING, "oidc-groups-claim": STRING, "oidc-groups-prefix": STRING,
    "oidc-required-claim": MAP_STRING, "oidc-signing-algs": STRINGS,
    # audit, logging, profiling, metrics
    "audit-log-path": STRING, "audit-log-maxage": INT, "audit-log-maxbackup": INT, "audit-log-maxsize": INT,
    "audit-log-format": STRING, "audit-log-mode": STRING, "audit-log-compress": BOOL, "audit-policy-file": STRING,
    "audit-webhook-config-file": STRING, "audit-webhook-mode": STRING, "audit-log-batch-max-size": INT,
    "audit-log-truncate-enabled": BOOL, "audit-webhook-batch-max-size": INT,
    "profiling": BOOL, "contention-profiling": BOOL, "enable-logs-handler": BOOL, "logging-format": STRING,
    "log-flush-frequency": DURATION, "vmodule": STRING, "show-hidden-metrics-for-version": STRING,
    "allow-metric-labels": STRINGS, "disabled-metrics": STRINGS,
    # serving, storage and cluster tuning
    "apiserver-count": INT, "endpoint-reconciler-type": STRING, "min-request-timeout": INT,
    "request-timeout": DURATION, "shutdown-delay-duration": DURATION, "shutdown-send-retry-after": BOOL,
    "shutdown-watch-termination-grace-period": DURATION, "goaway-chance": FLOAT,
    "http2-max-streams-per-connection": INT, "livez-grace-period": DURATION,
    "event-ttl": DURATION, "delete-collection-workers": INT, "enable-garbage-collector": BOOL,
    "enable-priority-and-fairness": BOOL, "storage-backend": STRING, "storage-media-type": STRING,
    "watch-cache": BOOL, "watch-cache-sizes": STRINGS, "default-watch-cache-size": INT,
    "etcd-count-metric-poll-period": DURATION,
    "etcd-db-metric-poll-interval": DURATION, "etcd-healthcheck-timeout": DURATION,
    "etcd-readycheck-timeout": DURATION, "etcd-servers-overrides": STRINGS,
    "encryption-provider-config": STRING, "encryption-provider-config-automatic-reload": BOOL,
    "egress-selector-config-file": STRING, "admission-control-config-file": STRING,
    "feature-gates": MAP_BOOL, "runtime-config": MAP_STRING, "cloud-provider": STRING, "cloud-config": STRING,
    "external-hostname": STRING, "tls-min-version": STRING, "tls-cipher-suites": STRINGS, "tls-sni-cert-key": STRING,
    "default-not-ready-toleration-seconds": INT, "default-unreachable-toleration-seconds": INT,
    "permit-port-sharing": BOOL, "permit-address-sharing": BOOL, "strict-transport-security-directives": STRINGS,
    "cors-allowed-origins": STRINGS,
}

_DURATION = re.compile(r"^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$")
_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]*|[1-9][0-9_]*)$")
_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


class FlagError(ValueError):
    """A command line kube-apiserver would refuse, with its message."""


@dataclass(frozen=True)
class Accepted:
    name: str
    value: str


def _problem(kind: str, value: str) -> str:
    """pflag's reason for refusing `value` as a `kind` flag, or "" when it parses."""
    if kind == BOOL:
        return "" if value in _BOOLS else f'strconv.ParseBool: parsing "{value}": invalid syntax'
    if kind == INT:
        return "" if _INT.match(value) else f'strconv.ParseInt: parsing "{value}": invalid syntax'
    if kind == FLOAT:
        try:
            float(value)
        except ValueError:
            return f'strconv.ParseFloat: parsing "{value}": invalid syntax'
        return ""
    if kind == DURATION:
        return "" if value and _DURATION.match(value) else f'time: invalid duration "{value}"'
    if kind in (MAP_BOOL, MAP_STRING):
        for pair in filter(None, (p.strip() for p in value.split(","))):
            key, eq, v = pair.partition("=")
            if not eq:
                return f"{pair} must be formatted as key=value"
            if kind == MAP_BOOL and v.strip() not in _BOOLS:
                return f"invalid value of {key.strip()}: {v.strip()}, err: strconv.ParseBool: parsing " \
                       f'"{v.strip()}": invalid syntax'
    return ""


def split_accepted(argv: list[str], implemented: Collection[str] = ()) -> tuple[list[str], list[Accepted]]:
    """(the arguments for the real parser, the accepted no-effect flags in order). A no-effect flag's value is
    checked as kube-apiserver's flag type: a bad one is a FlagError with pflag's message. Bool flags take
    `--flag`, `--flag=true|false`; the others `--flag=v` or `--flag v`. Names in `implemented` (flags the real
    parser has) are left to it, so a flag implemented later is never swallowed by this table."""
    rest: list[str] = []
    accepted: list[Accepted] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            rest.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        kind = None if name in implemented else NO_EFFECT.get(name)
        if kind is None:
            rest.append(arg)
            continue
        if not eq:
            if kind == BOOL:
                value = "true"
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                raise FlagError(f"flag needs an argument: --{name}")
        problem = _problem(kind, value)
        if problem:
            raise FlagError(f'invalid argument "{value}" for "--{name}" flag: {problem}')
        accepted.append(Accepted(name, value))
    return rest, accepted


def no_effect_message(name: str) -> str:
    return f"flag --{name} is accepted and has no effect in raftkv-apiserver"
