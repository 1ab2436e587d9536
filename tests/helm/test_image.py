"""The container image without Docker (none runs here): the build context holds everything the wheel is
built from, the wheel's `[all]` extra installs everything the package imports, and the image runs what
the chart expects (user, port, entrypoint)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

from helmkit import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _build_context() -> set[str]:
    """Top-level names .dockerignore lets into the build context (it is an allowlist: `*`, then `!name`)."""
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    assert "*" in lines, ".dockerignore is expected to exclude everything, then allow what the build needs"
    return {line[1:].strip("/") for line in lines if line.startswith("!")}


def _copied() -> set[str]:
    """Top-level names the build stage copies from the context."""
    names = set()
    for match in re.finditer(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M):
        names |= {part.strip("./") for part in match.group(1).split()[:-1]}
    return names


def test_the_image_runs_what_the_chart_expects() -> None:
    assert 'ENTRYPOINT ["minorguard", "sidecar"]' in DOCKERFILE
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, re.M)
    assert re.search(r"^EXPOSE 8080$", DOCKERFILE, re.M)
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base) for base in bases), bases
    assert re.search(r"^COPY --from=build /opt/venv /opt/venv$", DOCKERFILE, re.M)


def test_the_build_context_holds_what_the_wheel_is_built_from() -> None:
    context, copied = _build_context(), _copied()
    assert {"pyproject.toml", "README.md", "LICENSE", "src"} <= copied <= context
    # symlinks in the package (src/minorguard/presets -> ../../policies) must land in the context too
    for link in (REPO / "src").rglob("*"):
        if link.is_symlink():
            target = link.resolve().relative_to(REPO).parts[0]
            assert target in copied, f"{link.relative_to(REPO)} points into {target}/, which is not copied"


def _requires(name: str) -> list[str]:
    """A distribution's requirements; minorguard's from pyproject.toml (the image is built from it)."""
    if canonicalize_name(name) != "minorguard":
        return md.requires(name) or []
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        found += [f'{item}; extra == "{extra}"' for item in items]
    return found


def _closure(name: str, extras: set[str], seen: dict[str, set[str]]) -> None:
    """Distributions a requirement installs, with the extras asked of each."""
    key = canonicalize_name(name)
    if key in seen and extras <= seen[key]:
        return
    seen[key] = seen.get(key, set()) | extras
    for text in _requires(name):
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in seen[key] | {""}):
            _closure(requirement.name, set(requirement.extras), seen)


def _imports(root: Path) -> set[str]:
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"minorguard", "__future__"}


def test_the_all_extra_installs_everything_the_package_imports() -> None:
    """The image installs minorguard[all] and nothing else: an import only the dev extra provides
    would make the sidecar fail at start in the image, though every test passes here."""
    installed: dict[str, set[str]] = {}
    _closure("minorguard", {"all"}, installed)
    owners = md.packages_distributions()
    missing = []
    for module in sorted(_imports(REPO / "src" / "minorguard")):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        if not dists & set(installed):
            missing.append(f"{module} (from {', '.join(sorted(dists)) or 'no installed distribution'})")
    assert not missing, "imported by src/minorguard but not installed by minorguard[all]: " + "; ".join(
        missing
    )


def test_the_image_is_labelled_with_the_release_inside() -> None:
    import minorguard

    assert re.search(rf"^ARG MINORGUARD_VERSION={re.escape(minorguard.__version__)}$", DOCKERFILE, re.M)
    assert 'org.opencontainers.image.version="${MINORGUARD_VERSION}"' in DOCKERFILE
