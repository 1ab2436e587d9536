"""Pure rule evaluators: no I/O, no clocks. Each returns values (a deny is a Decision, not an exception)."""

from __future__ import annotations
