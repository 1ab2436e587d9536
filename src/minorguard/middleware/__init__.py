"""The ASGI middleware: the in-process front door for Starlette and FastAPI backends."""

from __future__ import annotations

from minorguard.middleware.asgi import MinorGuardMiddleware

__all__ = ["MinorGuardMiddleware"]
