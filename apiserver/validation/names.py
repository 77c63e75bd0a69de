"""Syntax checks of k8s.io/apimachinery/pkg/util/validation: each returns the real messages (empty when valid)."""

from __future__ import annotations

import ipaddress
import re

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_QUALIFIED = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_CONFIG_KEY = re.compile(f"^{CONFIG_KEY_FMT}$")
_SVC_NAME = re.compile("^[-a-z0-9]+$")
_HAS_LETTER = re.compile("[a-z]")


def _example(fmt: str, *examples: str) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"(e.g. {shown}, regex used for validation is '{fmt}')"


def _max_len(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def dns1123_label(value: str) -> list[str]:
    out = _max_len(value, 63)
    if not _LABEL.match(value):
        out.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                   "start and end with an alphanumeric character " + _example(DNS1123_LABEL_FMT, "my-name",
                                                                             "123-abc"))
    return out


def dns1123_subdomain(value: str) -> list[str]:
    out = _max_len(value, 253)
    if not _SUBDOMAIN.match(value):
        out.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                   "and must start and end with an alphanumeric character " + _example(DNS1123_SUBDOMAIN_FMT,
                                                                                       "example.com"))
    return out


def qualified_name(value: str) -> list[str]:
    """A label key, annotation key, node selector key or taint key: `[prefix/]name`."""
    parts = value.split("/")
    if len(parts) == 1:
        prefix, name = "", parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character " + _example(QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    out = [f"prefix part {m}" for m in dns1123_subdomain(prefix)] if prefix else []
    if not name:
        return out + ["name part must be non-empty"]
    if len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if not _QUALIFIED.match(name):
        out.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                   "an alphanumeric character " + _example(QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return out


def label_value(value: str) -> list[str]:
    out = _max_len(value, 63)
    if not _LABEL_VALUE.match(value):
        out.append("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character " + _example(LABEL_VALUE_FMT, "MyValue",
                                                                                       "my_value", "12345"))
    return out


def port_name(value: str) -> list[str]:
    """IANA_SVC_NAME (RFC 6335): container and service target port names."""
    out = _max_len(value, 15)
    if not _SVC_NAME.match(value):
        out.append("must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if value and not _HAS_LETTER.search(value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def port_number(value: int) -> list[str]:
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


def config_key(value: str) -> list[str]:
    """ConfigMap and Secret data keys."""
    out = _max_len(value, 253)
    if not _CONFIG_KEY.match(value):
        out.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                   + _example(CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        out.append("must not be '.'")
    elif value == "..":
        out.append("must not be '..'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def env_var_name(value: str) -> list[str]:
    """v1.32 (RelaxedEnvironmentVariableValidation, beta and on): printable ASCII except '='."""
    if any(not 32 <= ord(ch) <= 126 or ch == "=" for ch in value):
        return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
    return []


def ip_address(value: str, family: str = "") -> list[str]:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return [f"must be a valid {family} address" if family else
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    if family == "IPv4" and ip.version != 4 or family == "IPv6" and ip.version != 6:
        return [f"must be a valid {family} address"]
    return []
