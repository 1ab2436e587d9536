# syntax=docker/dockerfile:1
# The minorguard sidecar image (docs/operations.md: build, push, run).
#
#   docker build -t registry.example.com/minorguard:0.2.0 .
#
# Base image: pinned by exact tag, not by digest, because this repository is built where the registry
# cannot be reached to resolve one. Where it can, pin the digest too (docker buildx imagetools inspect
# python:3.11.11-slim-bookworm) as python:3.11.11-slim-bookworm@sha256:..., in both stages.

# --- build: the wheels of minorguard[all] and its dependencies, installed into a venv -------------
# (every dependency ships binary wheels for linux/amd64 and linux/arm64: no compiler is needed)
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
# src/minorguard/presets is a symlink to ../../policies: the presets ship in the wheel from there
COPY policies ./policies
COPY src ./src
RUN pip wheel ".[all]" --wheel-dir /wheels \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels "minorguard[all]" \
 && /opt/venv/bin/pip uninstall --yes --quiet setuptools wheel pip \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# --- final: the venv on the same base; no compilers, no pip, no build files -----------------------
FROM python:3.11.11-slim-bookworm
# the release inside (minorguard.__version__; tests/helm/test_image.py keeps them equal)
ARG MINORGUARD_VERSION=0.2.0
LABEL org.opencontainers.image.title="minorguard" \
      org.opencontainers.image.description="Request-time enforcement of the PRC Law on the Protection of Minors (Arts 74-76): the sidecar" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${MINORGUARD_VERSION}"
# Read-only root filesystem friendly: no .pyc written at run time (compiled above), temporary files
# and HOME in /tmp (an emptyDir in the chart).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    HOME=/tmp
RUN groupadd --system --gid 10001 minorguard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin minorguard \
 && mkdir -p /etc/minorguard \
 && pip uninstall --yes --root-user-action=ignore pip setuptools wheel >/dev/null 2>&1 || true
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["minorguard", "sidecar"]
# a deployment config mounted at /etc/minorguard (the chart passes its own arguments)
CMD ["--config", "/etc/minorguard/deployment.yaml", "--host", "0.0.0.0", "--port", "8080"]
