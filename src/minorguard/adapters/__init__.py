"""Outbound ports and their implementations: counter stores, holiday calendars, identity, NPPA."""

from __future__ import annotations

from minorguard.adapters.stores import open_store

__all__ = ["open_store"]
