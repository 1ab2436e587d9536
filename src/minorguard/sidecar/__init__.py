"""The sidecar: the decision API and the proxy front doors (Envoy ext_authz over HTTP and gRPC, nginx
auth_request, Traefik ForwardAuth) over the same engine, store keys and answers as the middleware."""

from __future__ import annotations
