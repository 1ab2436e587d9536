"""Body encryption and request signing of the NPPA interface, and the secret key that both use.

* Encryption: AES-128-GCM with the 16 bytes of the hex secret key, a random 12-byte IV and a 128-bit tag;
  the wire form is base64(IV ‖ ciphertext ‖ tag), sent as the body `{"data": "<base64>"}`.
* Signature: hex(SHA-256(secretKey + k1v1k2v2… + body)), where the pairs are the system parameters
  appId, bizId, timestamps and every URL query parameter, sorted by key, and body is the raw request body
  (empty for GET). The `sign` header itself and Content-Type are not signed.

The key is a `SecretKey`: its repr and str never show it, and no error raised here quotes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

IV_BYTES = 12
_HEX32 = re.compile(r"[0-9a-fA-F]{32}", re.ASCII)


class SecretKey:
    """The enterprise's secretKey (32 hex characters). Shown as `SecretKey(***)`; compare with `==`."""

    __slots__ = ("_aes", "_text")

    def __init__(self, text: str) -> None:
        text = text.strip()
        if not _HEX32.fullmatch(text):
            # The value is not quoted, not even its length when it is long: it may be a real key mistyped.
            raise ValueError("an NPPA secret key is 32 hexadecimal characters")
        self._text = text
        self._aes = AESGCM(bytes.fromhex(text))

    @classmethod
    def from_env(cls, name: str) -> SecretKey:
        value = os.environ.get(name)
        if not value:
            raise ValueError(f"environment variable {name} (the NPPA secret key) is not set")
        return cls(value)

    @classmethod
    def from_file(cls, path: str | Path) -> SecretKey:
        """A key in a file, e.g. a mounted Kubernetes/Docker secret (surrounding whitespace ignored)."""
        try:
            value = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the NPPA secret key file {path}: {type(exc).__name__}") from None
        return cls(value)

    def reveal(self) -> str:
        """The key text, for signing. Never log or print it."""
        return self._text

    def encrypt(self, plaintext: bytes) -> str:
        iv = os.urandom(IV_BYTES)
        return base64.b64encode(iv + self._aes.encrypt(iv, plaintext, None)).decode("ascii")

    def decrypt(self, data: str) -> bytes:
        """The plaintext of base64(IV ‖ ciphertext ‖ tag); ValueError when it is not one for this key."""
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the encrypted data is not base64") from None
        if len(raw) < IV_BYTES + 16:
            raise ValueError("the encrypted data is too short for IV and tag")
        try:
            return self._aes.decrypt(raw[:IV_BYTES], raw[IV_BYTES:], None)
        except InvalidTag:
            raise ValueError("the encrypted data does not authenticate with this key") from None

    def __repr__(self) -> str:
        return "SecretKey(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretKey) and other._text == self._text

    def __hash__(self) -> int:
        return hash(("SecretKey", self._text))

    def __reduce__(self) -> Any:
        raise TypeError("a SecretKey is not picklable")


def encrypted_body(key: SecretKey, payload: Mapping[str, Any]) -> bytes:
    """The exact request body for a JSON payload: `{"data":"<base64>"}` (compact JSON, UTF-8, no escapes
    of non-ASCII characters inside the encrypted plaintext)."""
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return json.dumps({"data": key.encrypt(plaintext)}, separators=(",", ":")).encode("ascii")


def sign(key: SecretKey, params: Mapping[str, str], body: bytes = b"") -> str:
    """hex(SHA-256(secretKey + concat(k + v for params sorted by key) + body)).

    `params` are the system parameters (appId, bizId, timestamps) and the URL query parameters, with the
    values exactly as sent; `body` is the raw body exactly as sent (b"" for GET).
    """
    digest = hashlib.sha256(key.reveal().encode("ascii"))
    digest.update("".join(k + v for k, v in sorted(params.items())).encode("utf-8"))
    digest.update(body)
    return digest.hexdigest()
