"""kube-apiserver's flags that have no effect here are accepted (type-checked, logged once); unknown ones refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from apiserver import flags
from apiserver.__main__ import parse_args
from raftkv import pki
from tests.apiserver.fixtures import ROOT, _stop, _wait, etcd, etcd_tls, free_port

BASE = ["--etcd-servers", "http://127.0.0.1:1", "--tls-cert-file", "c", "--tls-private-key-file", "k"]


def test_no_effect_flags_are_split_off_and_checked_as_their_kube_type() -> None:
    rest, accepted = flags.split_accepted(["--allow-privileged=true", "--secure-port", "1", "--profiling",
                                           "--audit-log-maxage", "30", "--event-ttl=1h0m0s",
                                           "--feature-gates=A=true,B=false", "--v=2"])
    assert rest == ["--secure-port", "1", "--v=2"]
    assert [(a.name, a.value) for a in accepted] == [
        ("allow-privileged", "true"), ("profiling", "true"), ("audit-log-maxage", "30"), ("event-ttl", "1h0m0s"),
        ("feature-gates", "A=true,B=false")]
    bad = {"--allow-privileged=yes": 'invalid argument "yes" for "--allow-privileged" flag: strconv.ParseBool: '
                                     'parsing "yes": invalid syntax',
           "--audit-log-maxage=3d": 'invalid argument "3d" for "--audit-log-maxage" flag: strconv.ParseInt: '
                                    'parsing "3d": invalid syntax',
           "--event-ttl=3d": 'invalid argument "3d" for "--event-ttl" flag: time: invalid duration "3d"',
           "--feature-gates=A": 'invalid argument "A" for "--feature-gates" flag: A must be formatted as key=value',
           "--audit-log-path": "flag needs an argument: --audit-log-path"}
    for arg, message in bad.items():
        with pytest.raises(flags.FlagError) as e:
            flags.split_accepted([arg])
        assert str(e.value) == message


def test_parse_args_refuses_unknown_and_abbreviated_flags(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args([*BASE, "--service-account-lookup", "--kubelet-timeout", "5s",
                       "--service-account-lookup=false"])
    assert args.no_effect == ["service-account-lookup", "kubelet-timeout"]
    assert flags.split_accepted(["--profiling"], implemented={"profiling"}) == (["--profiling"], [])
    for argv, message in ((["--alow-privileged=true"], "Error: unknown flag: --alow-privileged"),
                          (["--secure-po", "1"], "Error: unknown flag: --secure-po"),
                          (["--insecure-port=0"], "Error: unknown flag: --insecure-port"),  # removed in 1.24
                          (["--profiling=maybe"], 'Error: invalid argument "maybe" for "--profiling" flag')):
        with pytest.raises(SystemExit) as e:
            parse_args([*BASE, *argv])
        assert e.value.code == 1
        assert capsys.readouterr().err.startswith(message)


def test_etcd_compaction_interval_is_a_go_duration(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(BASE).etcd_compaction_interval == 300.0  # kube-apiserver's 5m0s
    assert parse_args([*BASE, "--etcd-compaction-interval=0"]).etcd_compaction_interval == 0.0  # disabled
    assert parse_args([*BASE, "--etcd-compaction-interval", "1m30s"]).etcd_compaction_interval == 90.0
    with pytest.raises(SystemExit) as e:
        parse_args([*BASE, "--etcd-compaction-interval=5"])
    assert e.value.code == 1 and capsys.readouterr().err == (
        'Error: invalid argument "5" for "--etcd-compaction-interval" flag: time: missing unit in duration "5"\n')


def _sa_keys(d: str) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv, pub = os.path.join(d, "sa.key"), os.path.join(d, "sa.pub")
    with open(priv, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(pub, "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.mark.e2e
@pytest.mark.skipif(not shutil.which("etcd"), reason="needs etcd")
def test_kubeadm_1_32_kube_apiserver_command_line_starts_the_server(tmp_path) -> None:
    """The flags of kubeadm 1.32's /etc/kubernetes/manifests/kube-apiserver.yaml, in its order, with its values
    (paths into a kubeadm-like pki directory, the secure port a free one)."""
    tmp = str(tmp_path)
    d = os.path.join(tmp, "kpki")
    pki.init_ca(d)
    apiserver_cert = pki.issue(d, "server", "apiserver", hosts=["localhost", "127.0.0.1"])
    kubelet_client = pki.issue(d, "client", "apiserver-kubelet-client", cn="kube-apiserver-kubelet-client",
                               orgs=["kubeadm:cluster-admins"])
    front = os.path.join(tmp, "front-proxy")
    pki.init_ca(front)
    proxy_client = pki.issue(front, "client", "front-proxy-client", cn="front-proxy-client")
    admin = pki.issue(d, "client", "admin", cn="kubernetes-admin", orgs=["system:masters"])
    sa_key, sa_pub = _sa_keys(d)
    port = free_port()
    with etcd(tmp, tls=True) as etcd_url:
        e = etcd_tls(tmp)
        cmd = [sys.executable, "-m", "apiserver",
               "--advertise-address=127.0.0.1",
               "--allow-privileged=true",
               "--authorization-mode=Node,RBAC",
               f"--client-ca-file={d}/ca.crt",
               "--enable-admission-plugins=NodeRestriction",
               "--enable-bootstrap-token-auth=true",
               f"--etcd-cafile={e.ca}",
               f"--etcd-certfile={e.cert}",
               f"--etcd-keyfile={e.key}",
               f"--etcd-servers={etcd_url}",
               f"--kubelet-client-certificate={kubelet_client.cert}",
               f"--kubelet-client-key={kubelet_client.key}",
               "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
               f"--proxy-client-cert-file={proxy_client.cert}",
               f"--proxy-client-key-file={proxy_client.key}",
               "--requestheader-allowed-names=front-proxy-client",
               f"--requestheader-client-ca-file={front}/ca.crt",
               "--requestheader-extra-headers-prefix=X-Remote-Extra-",
               "--requestheader-group-headers=X-Remote-Group",
               "--requestheader-username-headers=X-Remote-User",
               f"--secure-port={port}",
               "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
               f"--service-account-key-file={sa_pub}",
               f"--service-account-signing-key-file={sa_key}",
               "--service-cluster-ip-range=10.96.0.0/12",
               f"--tls-cert-file={apiserver_cert.cert}",
               f"--tls-private-key-file={apiserver_cert.key}"]
        log = os.path.join(tmp, "apiserver.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            import ssl
            ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")
            ctx.load_cert_chain(admin.cert, admin.key)
            url = f"https://127.0.0.1:{port}"

            def ready() -> bool:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=ctx) as r:
                    return r.status == 200
            _wait(ready, "apiserver", proc, log)
            with urllib.request.urlopen(f"{url}/api/v1/namespaces/default/services/kubernetes", timeout=5,
                                        context=ctx) as r:
                assert json.loads(r.read())["spec"]["clusterIP"] == "10.96.0.1"
        finally:
            _stop(proc)
        text = open(log).read()
        for name in ("allow-privileged", "enable-bootstrap-token-auth", "proxy-client-cert-file",
                     "requestheader-allowed-names"):
            assert text.count(flags.no_effect_message(name)) == 1, name
        # the kubelet client flags are served (pods/log, exec, port-forward reach kubelets with them)
        assert flags.no_effect_message("kubelet-client-certificate") not in text
