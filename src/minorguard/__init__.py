"""minorguard: request-time enforcement of the PRC Law on the Protection of Minors, Arts 74-76."""

from __future__ import annotations

import platform

# The one place the version is written: pyproject.toml reads it from here (tool.setuptools.dynamic),
# and `minorguard --version`, /v1/policy, the OpenAPI document and the image label show it.
__version__ = "0.2.0"


def version_line() -> str:
    return f"minorguard {__version__} (Python {platform.python_version()})"
