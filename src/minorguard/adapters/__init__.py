"""Outbound ports and their implementations: counter stores, holiday calendars, identity, NPPA."""

from __future__ import annotations
