from __future__ import annotations

import pathlib

import pytest

from raftkv.server.config import ConfigError, member_id, parse_args


@pytest.mark.unit
def test_defaults_run_a_single_member() -> None:
    cfg = parse_args([])
    assert cfg.name == "default" and cfg.data_dir == "default.raftkv"
    assert cfg.listen_client_urls == ["http://localhost:2379"]
    assert cfg.initial_members() == {"default": ["http://localhost:2380"]}
    assert cfg.election_ticks == 10


@pytest.mark.unit
def test_etcd_flags_are_accepted() -> None:
    cfg = parse_args(["--name", "m2", "--initial-cluster", "m1=https://127.0.0.1:1,m2=https://127.0.0.1:2",
                      "--listen-peer-urls", "http://127.0.0.1:2", "--initial-advertise-peer-urls",
                      "https://127.0.0.1:2", "--heartbeat-interval", "50", "--election-timeout", "500",
                      "--client-cert-auth=false", "--snapshot-count", "10"])
    assert cfg.initial_members()["m1"] == ["https://127.0.0.1:1"]
    assert cfg.election_ticks == 10 and cfg.snapshot_count == 10 and cfg.client_cert_auth is False


@pytest.mark.unit
@pytest.mark.parametrize("argv, message", [
    (["--election-timeout", "100"], "should be at least as 5 times"),
    (["--initial-cluster", "other=http://localhost:2380"], "no entry for this member"),
    (["--initial-cluster", "default"], "not of the form name=url"),
    (["--listen-client-urls", "localhost:2379"], "not a valid URL"),
    (["--listen-client-urls", "https://localhost:2379"], "--cert-file/--key-file"),
    (["--snapshot-count", "ten"], "expected an integer"),
    (["--initial-cluster-state", "maybe"], "expected new or existing"),
    (["--client-cert-auth"], "needs --trusted-ca-file"),
    (["--trusted-ca-file", "/nonexistent/ca.crt"], "cannot read"),
])
def test_bad_flags_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_args(argv)


@pytest.mark.unit
def test_config_file_uses_etcd_keys(tmp_path: pathlib.Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    f = tmp_path / "etcd.yaml"
    f.write_text(f"name: m1\nsnapshot-count: 77\nlisten-client-urls: http://127.0.0.1:5000\n"
                 f"client-transport-security:\n  client-cert-auth: true\n  trusted-ca-file: {ca}\n")
    cfg = parse_args(["--config-file", str(f), "--snapshot-count", "88"])
    assert cfg.name == "m1" and cfg.snapshot_count == 88 and cfg.client_cert_auth
    assert cfg.listen_client_urls == ["http://127.0.0.1:5000"]


@pytest.mark.unit
def test_config_file_errors(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_args(["--config-file", str(f)])
    with pytest.raises(ConfigError, match="cannot read"):
        parse_args(["--config-file", str(tmp_path / "missing.yaml")])


@pytest.mark.unit
def test_member_ids_are_stable_and_distinct() -> None:
    a = member_id(["https://127.0.0.1:1"], "t")
    assert a == member_id(["https://127.0.0.1:1"], "t")
    assert a != member_id(["https://127.0.0.1:2"], "t") != member_id(["https://127.0.0.1:1"], "u")


def test_bcrypt_cost_as_etcd(caplog) -> None:
    assert parse_args([]).bcrypt_cost == 10
    assert parse_args(["--bcrypt-cost", "4"]).bcrypt_cost == 4
    assert parse_args(["--bcrypt-cost=32"]).bcrypt_cost == 10  # out of bcrypt's range: etcd warns, uses 10
    assert "use default bcrypt cost instead of the invalid given cost" in caplog.text
    with pytest.raises(ConfigError, match="--bcrypt-cost: expected an integer"):
        parse_args(["--bcrypt-cost", "ten"])
