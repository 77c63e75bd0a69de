import pytest

from apiserver.errors import APIError
from apiserver.request_info import parse_request_info

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("method,path,query,expect", [
    ("GET", "/api/v1/namespaces/ns1/pods", {}, ("list", "", "v1", "ns1", "pods", "", "")),
    ("GET", "/api/v1/namespaces/ns1/pods", {"watch": "true"}, ("watch", "", "v1", "ns1", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/ns1/pods", {}, ("watch", "", "v1", "ns1", "pods", "", "")),
    ("GET", "/api/v1/pods", {}, ("list", "", "v1", "", "pods", "", "")),
    ("GET", "/api/v1/namespaces/ns1/pods/p", {}, ("get", "", "v1", "ns1", "pods", "p", "")),
    ("PUT", "/api/v1/namespaces/ns1/pods/p/status", {}, ("update", "", "v1", "ns1", "pods", "p", "status")),
    ("GET", "/api/v1/namespaces/ns1", {}, ("get", "", "v1", "ns1", "namespaces", "ns1", "")),
    ("PUT", "/api/v1/namespaces/ns1/finalize", {}, ("update", "", "v1", "ns1", "namespaces", "ns1", "finalize")),
    ("GET", "/api/v1/namespaces", {}, ("list", "", "v1", "", "namespaces", "", "")),
    ("POST", "/apis/apps/v1/namespaces/d/deployments", {}, ("create", "apps", "v1", "d", "deployments", "", "")),
    ("PATCH", "/apis/apps/v1/namespaces/d/deployments/w/scale", {},
     ("patch", "apps", "v1", "d", "deployments", "w", "scale")),
    ("DELETE", "/api/v1/namespaces/d/configmaps", {}, ("deletecollection", "", "v1", "d", "configmaps", "", "")),
    ("DELETE", "/api/v1/nodes/n1", {}, ("delete", "", "v1", "", "nodes", "n1", "")),
])
def test_resource_requests(method, path, query, expect):
    info = parse_request_info(method, path, query)
    assert info.is_resource_request
    assert (info.verb, info.group, info.version, info.namespace, info.resource, info.name, info.subresource) == expect


@pytest.mark.parametrize("path", ["/version", "/healthz", "/api", "/apis", "/api/v1", "/apis/apps",
                                  "/apis/apps/v1", "/openapi/v3/api/v1"])
def test_non_resource_requests(path):
    info = parse_request_info("GET", path, {})
    assert not info.is_resource_request
    assert info.verb == "get"


def test_dot_dot_is_refused():
    with pytest.raises(APIError) as e:
        parse_request_info("GET", "/api/v1/namespaces/../pods", {})
    assert e.value.code == 400


def test_too_deep_is_refused():
    with pytest.raises(APIError) as e:
        parse_request_info("GET", "/api/v1/namespaces/a/pods/b/status/extra", {})
    assert e.value.reason == "BadRequest"


def test_console_script_is_declared_and_takes_kube_apiserver_flags():
    import pathlib
    import tomllib

    from apiserver.__main__ import parse_args
    root = pathlib.Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["raftkv-apiserver"] == "apiserver.__main__:main"
    args = parse_args(["--etcd-servers", "https://a:2379", "--etcd-prefix", "/other", "--tls-cert-file", "c",
                       "--tls-private-key-file", "k", "--secure-port", "7443", "--bind-address", "0.0.0.0"])
    assert (args.etcd_prefix, args.secure_port, args.bind_address) == ("/other", 7443, "0.0.0.0")


def test_inflight_limiter_counts_short_requests_per_kind():
    from apiserver.http.inflight import InflightLimiter, is_long_running, is_mutating
    lim = InflightLimiter(max_read_only=2, max_mutating=1)
    assert lim.acquire(False) and lim.acquire(False) and not lim.acquire(False)
    assert lim.acquire(True) and not lim.acquire(True), "each kind has its own budget"
    lim.release(False)
    assert lim.acquire(False)
    unlimited = InflightLimiter(0, 0)
    assert all(unlimited.acquire(True) for _ in range(1000))
    watch = parse_request_info("GET", "/api/v1/pods", {"watch": "true"})
    follow = parse_request_info("GET", "/api/v1/namespaces/d/pods/p/log", {"follow": "true"})
    get = parse_request_info("GET", "/api/v1/namespaces/d/pods/p/log", {})
    assert is_long_running(watch, {"watch": "true"}) and is_long_running(follow, {"follow": "true"})
    assert not is_long_running(get, {}) and not is_mutating(get)
    assert is_mutating(parse_request_info("PATCH", "/api/v1/namespaces/d/pods/p", {}))
