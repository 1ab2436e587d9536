"""minorguard: request-time enforcement of the PRC Law on the Protection of Minors, Arts 74-76."""

from __future__ import annotations

__version__ = "0.1.0"
