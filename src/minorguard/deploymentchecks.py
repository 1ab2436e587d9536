"""What the schema of a deployment config cannot see, checked on the parsed document so every problem
comes with its file:line:col, all at once: the store URL (scheme, every option, TLS files), each
secret (an unset environment variable, a file that cannot be read), the identity keys (HS* mixed
with asymmetric algorithms, a key source of the wrong family, a short HS secret, a missing PEM file,
a plain-http JWKS URL). Nothing is connected to; works on a document the schema refused too, so its
problems come out with the schema's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from minorguard.adapters.redisurls import parse_redis_url
from minorguard.adapters.stores import store_scheme
from minorguard.errors import Problem, StoreError
from minorguard.policy.yamlfile import Document, Path_, dotted

SECRETS: tuple[Path_, ...] = (
    ("subject_secret",),
    ("admin_token",),
    ("store_password",),
    ("store_sentinel_password",),
    ("identity", "hs_secret"),
    ("nppa", "secret_key"),
)
_HMAC = ("HS256", "HS384", "HS512")
_ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512")
ALGORITHMS = (*_HMAC, *_ASYMMETRIC, "EdDSA")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def semantic_problems(doc: Document, base: Path) -> list[Problem]:
    data = doc.data if isinstance(doc.data, dict) else {}
    return [*_store(doc, data), *_secrets(doc, data, base), *_identity(doc, data, base)]


def _at(doc: Document, path: Path_, message: str) -> Problem:
    mark = doc.mark(path)
    return Problem(mark.file, mark.line, mark.column, dotted(path), message)


def _get(data: Any, path: Path_) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _store(doc: Document, data: dict[str, Any]) -> Iterator[Problem]:
    url = data.get("store")
    if not isinstance(url, str):
        return
    try:
        scheme = store_scheme(url)
        if scheme == "memory":
            return
        target = parse_redis_url(url)
    except (StoreError, ValueError) as exc:
        yield _at(doc, ("store",), str(exc).removeprefix("configuration: "))
        return
    for option, file in target.tls.files() if target.tls is not None else ():
        if not Path(file).exists():
            yield _at(doc, ("store",), f"{option}: no such file or folder {file}")
    if target.kind != "sentinel" and isinstance(data.get("store_sentinel_password"), dict):
        yield _at(doc, ("store_sentinel_password",), "only a redis+sentinel:// store asks Sentinels")
    queue = _get(data, ("nppa", "queue_url"))
    if isinstance(queue, str) and urlsplit(queue).scheme not in ("redis", "rediss"):
        yield _at(doc, ("nppa", "queue_url"), "the behaviour queue is a redis:// or rediss:// URL")


def _secrets(doc: Document, data: dict[str, Any], base: Path) -> Iterator[Problem]:
    for path in SECRETS:
        ref = _get(data, path)
        if not isinstance(ref, dict):
            continue
        env, file = ref.get("env"), ref.get("file")
        if isinstance(env, str) and not os.environ.get(env):
            yield _at(doc, (*path, "env"), f"the environment variable {env} is not set (or is empty)")
        if isinstance(file, str) and not (base / file).is_file():
            yield _at(doc, (*path, "file"), f"cannot read the secret file {base / file}")


def _identity(doc: Document, data: dict[str, Any], base: Path) -> Iterator[Problem]:
    identity = data.get("identity")
    algorithms = identity.get("algorithms") if isinstance(identity, dict) else None
    if not isinstance(identity, dict) or not isinstance(algorithms, list):
        return
    names = [a for a in algorithms if isinstance(a, str)]
    for i, name in enumerate(algorithms):
        if isinstance(name, str) and name not in ALGORITHMS:
            hint = (
                "never allowed: tokens must be signed" if name.lower() == "none" else f"known: {ALGORITHMS}"
            )
            yield _at(doc, ("identity", "algorithms", i), f"unknown or refused algorithm {name!r} ({hint})")
    families = {name in _HMAC for name in names if name in ALGORITHMS}
    if len(families) > 1:
        yield _at(
            doc,
            ("identity", "algorithms"),
            "HS* algorithms cannot be mixed with asymmetric ones (key confusion: a public key used as an "
            "HMAC secret)",
        )
        return
    if families:
        yield from _key_source(doc, identity, hmac=families == {True}, names=names, base=base)


def _key_source(
    doc: Document, identity: dict[str, Any], *, hmac: bool, names: list[str], base: Path
) -> Iterator[Problem]:
    given = [key for key in ("hs_secret", "pem_file", "jwks_url") if identity.get(key) is not None]
    if hmac and given and given != ["hs_secret"]:
        yield _at(doc, ("identity", given[-1]), "HS* algorithms verify with hs_secret, not a public key")
    if not hmac and "hs_secret" in given:
        yield _at(doc, ("identity", "hs_secret"), "asymmetric algorithms verify with pem_file or jwks_url")
    pem = identity.get("pem_file")
    if isinstance(pem, str) and not (base / pem).is_file():
        yield _at(doc, ("identity", "pem_file"), f"no such file {base / pem}")
    jwks = identity.get("jwks_url")
    if isinstance(jwks, str):
        parts = urlsplit(jwks)
        if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
            yield _at(
                doc,
                ("identity", "jwks_url"),
                "jwks_url must be https (plain http only to a loopback address)",
            )
    secret = _secret_value(identity.get("hs_secret"), base)
    if hmac and secret is not None:
        needed = max(int(name[2:]) // 8 for name in names)
        if len(secret) < needed:
            yield _at(
                doc, ("identity", "hs_secret"), f"the secret must be at least {needed} bytes for {names}"
            )


def _secret_value(ref: Any, base: Path) -> bytes | None:
    """The secret, when it can be read here (else `_secrets` reports why)."""
    if not isinstance(ref, dict):
        return None
    if isinstance(ref.get("value"), str):
        return str(ref["value"]).encode()
    if isinstance(ref.get("env"), str):
        found = os.environ.get(ref["env"])
        return found.encode() if found else None
    file = ref.get("file")
    if isinstance(file, str) and (base / file).is_file():
        return (base / file).read_bytes().strip()
    return None
