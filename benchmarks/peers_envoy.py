"""The one Envoy of benchmarks/peers.py: a listener per row, each with the filter that row measures in
front of the same tiny upstream (nginx answering 200). The bootstrap is written as JSON (which Envoy
reads as YAML) as envoy.yaml in the run's folder, which peers.py names and keeps, with every log.

- `none`: no filter, the proxy's own cost (a reference row).
- `ratelimit`: the HTTP ratelimit filter, domain `minorguard-bench`, one `user` descriptor from the
  X-User-Id header, RLS v3 over gRPC (envoyproxy/ratelimit's service).
- `authz-grpc`: ext_authz over gRPC (Authorization/Check v3: OPA-envoy, or minorguard's gRPC door).
- `authz-http`: ext_authz as an HTTP service, configured as docs/envoy.md tells operators.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TYPES = "type.googleapis.com/envoy.extensions"
TIMEOUT = "1s"  # a saturated checker must not turn into Envoy's status_on_error
ENVOY_PREFIX = "/v1/authz/envoy"
DOMAIN = "minorguard-bench"
READ_HEADERS = ("accept-language", "idempotency-key", "x-amount-fen")


@dataclass(frozen=True)
class Front:
    """One listener: the port wrk drives, and what checks a request there (`checker` names the
    cluster, `port` the checker's port)."""

    name: str
    listen: int
    kind: str  # none | ratelimit | authz-grpc | authz-http
    port: int = 0

    @property
    def cluster(self) -> str:
        return f"checker-{self.name}"


def bootstrap(fronts: list[Front], upstream_port: int, admin_port: int) -> dict[str, Any]:
    clusters = [cluster("upstream", upstream_port, http2=False)]
    clusters += [cluster(f.cluster, f.port, http2=f.kind != "authz-http") for f in fronts if f.kind != "none"]
    return {
        "admin": {"address": address(admin_port)},
        "static_resources": {"listeners": [listener(front) for front in fronts], "clusters": clusters},
    }


def write(folder: Path, fronts: list[Front], upstream_port: int, admin_port: int) -> Path:
    path = folder / "envoy.yaml"
    path.write_text(json.dumps(bootstrap(fronts, upstream_port, admin_port), indent=2), encoding="utf-8")
    return path


def address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def cluster(name: str, port: int, *, http2: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}]}],
        },
    }
    if http2:
        found["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": f"{TYPES}.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return found


def listener(front: Front) -> dict[str, Any]:
    route: dict[str, Any] = {"cluster": "upstream"}
    if front.kind == "ratelimit":
        route["rate_limits"] = [
            {"actions": [{"request_headers": {"header_name": "x-user-id", "descriptor_key": "user"}}]}
        ]
    manager = {
        "@type": f"{TYPES}.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": front.name,
        "route_config": {
            "virtual_hosts": [
                {"name": front.name, "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": route}]}
            ]
        },
        "http_filters": [*check_filters(front), router()],
    }
    return {
        "name": front.name,
        "address": address(front.listen),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }


def router() -> dict[str, Any]:
    config = {"@type": f"{TYPES}.filters.http.router.v3.Router"}
    return {"name": "envoy.filters.http.router", "typed_config": config}


def check_filters(front: Front) -> list[dict[str, Any]]:
    if front.kind == "none":
        return []
    if front.kind == "ratelimit":
        config: dict[str, Any] = {
            "@type": f"{TYPES}.filters.http.ratelimit.v3.RateLimit",
            "domain": DOMAIN,
            "failure_mode_deny": True,  # a failing service must show in the run as errors
            "timeout": TIMEOUT,
            "rate_limit_service": {
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": front.cluster}},
            },
        }
        return [{"name": "envoy.filters.http.ratelimit", "typed_config": config}]
    config = {
        "@type": f"{TYPES}.filters.http.ext_authz.v3.ExtAuthz",
        "transport_api_version": "V3",
        "failure_mode_allow": False,
        "status_on_error": {"code": "Forbidden"},
    }
    if front.kind == "authz-grpc":
        config["grpc_service"] = {"envoy_grpc": {"cluster_name": front.cluster}, "timeout": TIMEOUT}
    else:
        config.update(http_service(front))
    return [{"name": "envoy.filters.http.ext_authz", "typed_config": config}]


def http_service(front: Front) -> dict[str, Any]:
    """docs/envoy.md's HTTP service: the headers the sidecar reads, and those it sends back."""
    return {
        "allowed_headers": {"patterns": [{"exact": name} for name in READ_HEADERS]},
        "http_service": {
            "server_uri": {
                "uri": f"http://127.0.0.1:{front.port}",
                "cluster": front.cluster,
                "timeout": TIMEOUT,
            },
            "path_prefix": ENVOY_PREFIX,
            "authorization_response": {
                "allowed_upstream_headers": {"patterns": [{"prefix": "x-minorguard-"}]},
                "allowed_client_headers": {
                    "patterns": [
                        {"prefix": "minorguard-"},
                        {"exact": "content-type"},
                        {"exact": "content-language"},
                        {"exact": "www-authenticate"},
                        {"exact": "retry-after"},
                    ]
                },
            },
        },
    }
