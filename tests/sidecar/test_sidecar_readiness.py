"""Issue 14 item 11: /readyz reflects usable identity keys. A sidecar whose JWKS cannot be fetched
answered ready while every decision was identity_invalid; now it is not ready (503) until it holds a
key set, and minorguard_identity_keys_usable says so. A set fetched once stays usable while the
identity provider is down, so a flaky IdP does not take every pod out of the Service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import CollectorRegistry
from sidecarkit import AUDIENCE, ISSUER, asgi_client, write_config

from minorguard.sidecar.app import SidecarApp
from minorguard.sidecar.serve import build_sidecar
from redis_servers import free_port


class Idp:
    """A JWKS endpoint on loopback whose answer a test switches between the key set and a 503."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.document = json.dumps({"keys": [{**jwk, "kid": "k1"}]}).encode()
        self.up = True
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = idp.document if idp.up else b"down"
                self.send_response(200 if idp.up else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def idp() -> Iterator[Idp]:
    served = Idp()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    thread.join(5)


def jwks_sidecar(tmp_path: Path, url: str, closing: list[SidecarApp]) -> tuple[SidecarApp, CollectorRegistry]:
    identity = {"algorithms": ["RS256"], "issuer": ISSUER, "audience": AUDIENCE, "jwks_url": url}
    config = write_config(tmp_path, identity=identity)
    registry = CollectorRegistry()
    app = build_sidecar(str(config), registry=registry)
    closing.append(app)
    return app, registry


async def test_a_sidecar_that_cannot_fetch_its_jwks_is_not_ready(
    tmp_path: Path, closing: list[SidecarApp]
) -> None:
    app, registry = jwks_sidecar(tmp_path, f"http://127.0.0.1:{free_port()}/jwks.json", closing)
    async with asgi_client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "no key to verify tokens" in response.json()["detail"]
    assert registry.get_sample_value("minorguard_identity_keys_usable") == 0


async def test_a_sidecar_holding_its_jwks_is_ready_and_stays_so_while_the_idp_is_down(
    tmp_path: Path, idp: Idp, closing: list[SidecarApp]
) -> None:
    app, registry = jwks_sidecar(tmp_path, idp.url, closing)
    async with asgi_client(app) as http:
        first = await http.get("/readyz")
        idp.up = False
        later = await http.get("/readyz")
    assert (first.status_code, later.status_code) == (200, 200), (first.text, later.text)
    assert registry.get_sample_value("minorguard_identity_keys_usable") == 1


async def test_a_sidecar_whose_idp_answers_errors_is_not_ready(
    tmp_path: Path, idp: Idp, closing: list[SidecarApp]
) -> None:
    idp.up = False
    app, _ = jwks_sidecar(tmp_path, idp.url, closing)
    async with asgi_client(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
