"""Member configuration: etcd's flag names and YAML config-file keys, checked once at start.

Where raftkv and etcd mean the same thing the name is etcd's, so an etcd command line or
config file starts a raftkv member unchanged. Every check raises `ConfigError` with a
one-line message naming the flag.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import yaml

from raftkv.auth.credentials import DEFAULT_BCRYPT_COST, MAX_BCRYPT_COST, MIN_BCRYPT_COST
from raftkv.auth.tokens import TokenConfigError, TokenProvider, build_provider

DEFAULT_MAX_REQUEST_BYTES = int(1.5 * 1024 * 1024)
DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024
MAX_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024
DEFAULT_MAX_TXN_OPS = 128


class ConfigError(Exception):
    """A bad flag or config-file value; the message names it."""


@dataclass
class ServerConfig:
    name: str = "default"
    data_dir: str = ""
    listen_client_urls: list[str] = field(default_factory=lambda: ["http://localhost:2379"])
    advertise_client_urls: list[str] = field(default_factory=list)
    listen_peer_urls: list[str] = field(default_factory=lambda: ["http://localhost:2380"])
    initial_advertise_peer_urls: list[str] = field(default_factory=list)
    initial_cluster: str = ""
    initial_cluster_state: str = "new"
    initial_cluster_token: str = "etcd-cluster"
    listen_metrics_urls: list[str] = field(default_factory=list)
    client_cert_auth: bool = False
    trusted_ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    peer_client_cert_auth: bool = False
    peer_trusted_ca_file: str = ""
    peer_cert_file: str = ""
    peer_key_file: str = ""
    snapshot_count: int = 100_000
    snapshot_catchup_entries: int = 5_000
    heartbeat_interval: int = 100
    election_timeout: int = 1000
    quota_backend_bytes: int = DEFAULT_QUOTA_BACKEND_BYTES
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS
    watch_progress_notify_interval: float = 600.0
    log_level: str = "info"
    auth_token: str = "simple"  # etcd's --auth-token: simple, or jwt,pub-key=...,priv-key=...,sign-method=...
    auth_token_ttl: int = 300  # seconds; simple tokens only, as in etcd
    bcrypt_cost: int = DEFAULT_BCRYPT_COST  # etcd's --bcrypt-cost: of the password hashes this member writes

    @property
    def election_ticks(self) -> int:
        return max(2, self.election_timeout // self.heartbeat_interval)

    def initial_members(self) -> dict[str, list[str]]:
        """name -> peer URLs, from --initial-cluster."""
        members: dict[str, list[str]] = {}
        for item in filter(None, (s.strip() for s in self.initial_cluster.split(","))):
            name, sep, url = item.partition("=")
            if not sep or not name or not url:
                raise ConfigError(f"--initial-cluster: {item!r} is not of the form name=url")
            _check_url("--initial-cluster", url)
            members.setdefault(name, []).append(url)
        return members


def member_id(peer_urls: list[str], token: str) -> int:
    """A member's id, derived from what every member knows about it (like etcd's)."""
    digest = hashlib.sha256(("".join(sorted(peer_urls)) + token).encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def cluster_id(member_ids: list[int], token: str) -> int:
    blob = b"".join(i.to_bytes(8, "big") for i in sorted(member_ids)) + token.encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big") or 1


def _check_url(flag: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "unix", "unixs") or not parts.netloc:
        raise ConfigError(f"{flag}: {url!r} is not a valid URL (expected http(s)://host:port)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{flag}: {url!r} has an invalid port") from exc
    if port is None:
        raise ConfigError(f"{flag}: {url!r} has no port")


def _urls(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [u.strip() for u in str(value).split(",") if u.strip()]


_LIST_FIELDS = {"listen_client_urls", "advertise_client_urls", "listen_peer_urls",
                "initial_advertise_peer_urls", "listen_metrics_urls"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="raftkv serve", description="Run a raftkv member (etcd-compatible flags).")
    add = p.add_argument
    add("--config-file", default="", help="YAML file with etcd's config-file keys; flags override it")
    for f in dataclasses.fields(ServerConfig):
        flag = "--" + f.name.replace("_", "-")
        flags = [flag]
        if f.name == "watch_progress_notify_interval":
            flags = ["--experimental-watch-progress-notify-interval"]
        elif f.name == "snapshot_catchup_entries":
            flags.append("--experimental-snapshot-catchup-entries")
        if f.type in ("bool", bool):
            add(*flags, dest=f.name, nargs="?", const="true", default=None, metavar="BOOL")
        else:
            add(*flags, dest=f.name, default=None)
    return p


def _coerce(name: str, raw: object) -> object:
    f = {f.name: f for f in dataclasses.fields(ServerConfig)}[name]
    flag = "--" + name.replace("_", "-")
    if name in _LIST_FIELDS:
        return _urls(raw)  # type: ignore[arg-type]
    if f.type in ("bool", bool):
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text not in ("true", "false", "1", "0"):
            raise ConfigError(f"{flag}: expected true or false, got {raw!r}")
        return text in ("true", "1")
    if f.type in ("int", int):
        try:
            return int(str(raw))
        except ValueError as exc:
            raise ConfigError(f"{flag}: expected an integer, got {raw!r}") from exc
    if f.type in ("float", float):
        text = str(raw)
        try:
            if text.endswith("ms"):
                return float(text[:-2]) / 1000
            if text.endswith("m"):
                return float(text[:-1]) * 60
            return float(text.rstrip("s"))
        except ValueError as exc:
            raise ConfigError(f"{flag}: expected a duration, got {raw!r}") from exc
    return str(raw)


def _from_yaml(path: str) -> dict[str, object]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"--config-file: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config-file: {path} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"--config-file: {path} must hold a mapping of etcd config keys")
    out: dict[str, object] = {}
    for section, prefix in (("client-transport-security", ""), ("peer-transport-security", "peer_")):
        sub = doc.pop(section, None) or {}
        for k, v in sub.items():
            out[prefix + k.replace("-", "_")] = v
    known = {f.name for f in dataclasses.fields(ServerConfig)}
    for k, v in doc.items():
        key = str(k).replace("-", "_")
        if key in known:
            out[key] = v
    return out


def parse_args(argv: list[str]) -> ServerConfig:
    args = build_parser().parse_args(argv)
    values: dict[str, object] = {}
    if args.config_file:
        values.update(_from_yaml(args.config_file))
    for f in dataclasses.fields(ServerConfig):
        v = getattr(args, f.name)
        if v is not None:
            values[f.name] = v
    cfg = ServerConfig()
    for k, v in values.items():
        setattr(cfg, k, _coerce(k, v))
    return finish(cfg)


def finish(cfg: ServerConfig) -> ServerConfig:
    """Fill derived defaults and validate."""
    if not cfg.name:
        raise ConfigError("--name must not be empty")
    if not cfg.data_dir:
        cfg.data_dir = f"{cfg.name}.raftkv"
    if not cfg.advertise_client_urls:
        cfg.advertise_client_urls = list(cfg.listen_client_urls)
    if not cfg.initial_advertise_peer_urls:
        cfg.initial_advertise_peer_urls = list(cfg.listen_peer_urls)
    if not cfg.initial_cluster:
        cfg.initial_cluster = ",".join(f"{cfg.name}={u}" for u in cfg.initial_advertise_peer_urls)
    for flag, urls in (("--listen-client-urls", cfg.listen_client_urls),
                       ("--advertise-client-urls", cfg.advertise_client_urls),
                       ("--listen-peer-urls", cfg.listen_peer_urls),
                       ("--initial-advertise-peer-urls", cfg.initial_advertise_peer_urls),
                       ("--listen-metrics-urls", cfg.listen_metrics_urls)):
        for u in urls:
            _check_url(flag, u)
    members = cfg.initial_members()
    if cfg.name not in members:
        raise ConfigError(f"--initial-cluster: has no entry for this member's --name {cfg.name!r}")
    if sorted(members[cfg.name]) != sorted(cfg.initial_advertise_peer_urls):
        raise ConfigError(f"--initial-cluster: {cfg.name}={','.join(members[cfg.name])} does not match "
                          f"--initial-advertise-peer-urls {','.join(cfg.initial_advertise_peer_urls)}")
    if cfg.initial_cluster_state not in ("new", "existing"):
        raise ConfigError("--initial-cluster-state: expected new or existing")
    if cfg.heartbeat_interval <= 0:
        raise ConfigError("--heartbeat-interval must be positive")
    if cfg.election_timeout < 5 * cfg.heartbeat_interval:
        raise ConfigError(f"--election-timeout[{cfg.election_timeout}ms] should be at least as 5 times as "
                          f"--heartbeat-interval[{cfg.heartbeat_interval}ms]")
    if cfg.snapshot_count <= 0:
        raise ConfigError("--snapshot-count must be positive")
    if cfg.quota_backend_bytes <= 0:
        cfg.quota_backend_bytes = DEFAULT_QUOTA_BACKEND_BYTES
    if cfg.quota_backend_bytes > MAX_QUOTA_BACKEND_BYTES:
        raise ConfigError(f"--quota-backend-bytes: at most {MAX_QUOTA_BACKEND_BYTES} bytes")
    if cfg.max_request_bytes <= 0:
        raise ConfigError("--max-request-bytes must be positive")
    if cfg.max_txn_ops <= 0:
        raise ConfigError("--max-txn-ops must be positive")
    tls_client = any(u.startswith("https") for u in cfg.listen_client_urls)
    if tls_client and not (cfg.cert_file and cfg.key_file):
        raise ConfigError("--listen-client-urls uses https but --cert-file/--key-file are not set")
    if cfg.client_cert_auth and not cfg.trusted_ca_file:
        raise ConfigError("--client-cert-auth needs --trusted-ca-file")
    tls_peer = any(u.startswith("https") for u in cfg.listen_peer_urls)
    if tls_peer and not (cfg.peer_cert_file and cfg.peer_key_file):
        raise ConfigError("--listen-peer-urls uses https but --peer-cert-file/--peer-key-file are not set")
    if cfg.peer_client_cert_auth and not cfg.peer_trusted_ca_file:
        raise ConfigError("--peer-client-cert-auth needs --peer-trusted-ca-file")
    for flag, path in (("--trusted-ca-file", cfg.trusted_ca_file), ("--cert-file", cfg.cert_file),
                       ("--key-file", cfg.key_file), ("--peer-trusted-ca-file", cfg.peer_trusted_ca_file),
                       ("--peer-cert-file", cfg.peer_cert_file), ("--peer-key-file", cfg.peer_key_file)):
        if path:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror}") from exc
    if not MIN_BCRYPT_COST <= cfg.bcrypt_cost <= MAX_BCRYPT_COST:  # etcd warns and uses the default
        logging.getLogger("raftkv.config").warning(
            "use default bcrypt cost instead of the invalid given cost (min-cost %d, max-cost %d, default-cost %d, "
            "given-cost %d)", MIN_BCRYPT_COST, MAX_BCRYPT_COST, DEFAULT_BCRYPT_COST, cfg.bcrypt_cost)
        cfg.bcrypt_cost = DEFAULT_BCRYPT_COST
    _check_auth_token(cfg)
    return cfg


def _check_auth_token(cfg: ServerConfig) -> None:
    """Refuse at start what etcd refuses: a bad --auth-token, unreadable or mismatched jwt keys."""
    try:
        build_provider(cfg.auth_token, cfg.auth_token_ttl, read_file)
    except TokenConfigError as exc:
        raise ConfigError(f"--auth-token: {exc}") from exc


def read_file(path: str) -> bytes:
    """A file named by a flag (certificates, keys), whole."""
    with open(path, "rb") as fh:
        return fh.read()


def token_provider(cfg: ServerConfig) -> TokenProvider:
    """The member's token provider (the config was checked by `finish`, so this does not fail)."""
    provider, unknown = build_provider(cfg.auth_token, cfg.auth_token_ttl, read_file)
    if unknown:
        logging.getLogger("raftkv.config").warning("--auth-token: unknown jwt options %s", ", ".join(unknown))
    return provider
