"""The gRPC listener of the Envoy ext_authz door, run inside each sidecar worker beside its HTTP server.

In the worker, not in a process of its own: the gRPC door then shares the worker's gate with the HTTP
doors (one memory:// store in the demo, one verdict memo and blocked-until cache, one count of requests
in flight to drain), and a worker's readiness and shutdown cover both. Every worker binds the port with
SO_REUSEPORT, as granian binds the HTTP port, so the kernel spreads Envoy's connections over them; the
main process checks first that nothing else listens there (`serve.check_port_free`).
"""

from __future__ import annotations

from typing import NamedTuple

import grpc
from envoy.service.auth.v3.external_auth_pb2_grpc import add_AuthorizationServicer_to_server

from minorguard.errors import MinorguardError
from minorguard.gate.gate import Gate
from minorguard.sidecar.grpcdoor import EnvoyGrpcDoor

# the largest CheckRequest taken: a body up to max_body_bytes and Envoy's headers, with room to spare
_MESSAGE_OVERHEAD = 256 * 1024


class GrpcAddress(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class GrpcBindError(MinorguardError):
    """The gRPC port cannot be bound."""


class GrpcListener:
    def __init__(self, gate: Gate, address: GrpcAddress, *, max_body_bytes: int) -> None:
        self.address = address
        self.door = EnvoyGrpcDoor(gate)
        self.max_message = max_body_bytes + _MESSAGE_OVERHEAD
        self.server: grpc.aio.Server | None = None
        self.port = address.port  # the bound one (differs when asked for port 0)

    async def start(self) -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1),
                ("grpc.max_receive_message_length", self.max_message),
                ("grpc.max_send_message_length", self.max_message),
            ]
        )
        add_AuthorizationServicer_to_server(self.door, server)
        try:
            self.port = server.add_insecure_port(str(self.address))
        except RuntimeError as exc:
            raise GrpcBindError(f"cannot listen for gRPC on {self.address}: {exc}") from None
        if self.port == 0:
            raise GrpcBindError(f"cannot listen for gRPC on {self.address}")
        await server.start()
        self.server = server

    async def stop(self, grace: float) -> None:
        """Refuse new checks at once and let those under way finish, for at most `grace` seconds."""
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None
