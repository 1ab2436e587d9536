"""The interface specification's own vectors: AES-128-GCM body encryption and the SHA-256 signature;
and the secret key never shows."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from minorguard.adapters.nppa import Endpoints, NppaClient, SecretKey, encrypted_body, sign

SPEC_KEY = "2836e95fcd10e04b0069bb1ee659955b"  # the example key printed in the specification
SPEC_DATA = (
    "CqT/33f3jyoiYqT8MtxEFk3x2rlfhmgzhxpHqWosSj4d3hq2EbrtVyx2aLj565ZQNTcPrcDipnvpq/D/vQDaLKW70O83Q42zvR0//"
    "OfnYLcIjTPMnqa+SOhsjQrSdu66ySSORCAo"
)
SPEC_PLAINTEXT = '{"ai":"test-accountId","name":"用户姓名","idNum":"371321199012310912"}'
SPEC_SIGN = "386c03b776a28c06b8032a958fbd89337424ef45c62d0422706cca633d8ad5fd"


def test_spec_vector_decrypts() -> None:
    assert SecretKey(SPEC_KEY).decrypt(SPEC_DATA).decode("utf-8") == SPEC_PLAINTEXT


def test_spec_vector_signature() -> None:
    body = json.dumps({"data": SPEC_DATA}, separators=(",", ":")).encode()
    params = {
        "appId": "test-appId",
        "bizId": "test-bizId",
        "timestamps": "1584949895758",
        "id": "test-id",
        "name": "test-name",
    }
    assert sign(SecretKey(SPEC_KEY), params, body) == SPEC_SIGN


def test_signature_sorts_keys_whatever_the_order_given() -> None:
    body = json.dumps({"data": SPEC_DATA}, separators=(",", ":")).encode()
    params = {
        "timestamps": "1584949895758",
        "name": "test-name",
        "bizId": "test-bizId",
        "id": "test-id",
        "appId": "test-appId",
    }
    assert sign(SecretKey(SPEC_KEY), params, body) == SPEC_SIGN


def test_encryption_round_trip_with_fresh_iv() -> None:
    key = SecretKey(SPEC_KEY)
    payload = json.loads(SPEC_PLAINTEXT)
    first, second = encrypted_body(key, payload), encrypted_body(key, payload)
    assert first != second  # a random IV each time
    for body in (first, second):
        data = json.loads(body)["data"]
        assert json.loads(key.decrypt(data)) == payload
    # UTF-8 plaintext, not \\u escapes; compact JSON body
    assert key.decrypt(json.loads(first)["data"]).decode() == SPEC_PLAINTEXT
    assert first.startswith(b'{"data":"')


def test_tampered_or_foreign_ciphertext_is_refused() -> None:
    key = SecretKey("00" * 16)
    with pytest.raises(ValueError, match="does not authenticate"):
        key.decrypt(SPEC_DATA)
    with pytest.raises(ValueError, match="not base64"):
        key.decrypt("***")


def test_secret_key_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SecretKey(SPEC_KEY)
    assert SPEC_KEY not in repr(key)
    assert SPEC_KEY not in str(key)
    assert SPEC_KEY not in f"{key}"
    client = NppaClient(Endpoints.under("http://127.0.0.1:9"), app_id="a", biz_id="b", secret_key=key)
    assert SPEC_KEY not in repr(client)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    bad = "zz" + SPEC_KEY[2:]
    with pytest.raises(ValueError, match="32 hexadecimal") as raised:
        SecretKey(bad)
    assert bad not in str(raised.value)

    monkeypatch.setenv("NPPA_KEY_TEST", f"  {SPEC_KEY}\n")
    assert SecretKey.from_env("NPPA_KEY_TEST") == key
    monkeypatch.delenv("NPPA_KEY_TEST")
    with pytest.raises(ValueError, match="NPPA_KEY_TEST"):
        SecretKey.from_env("NPPA_KEY_TEST")
    path = tmp_path / "secret"
    path.write_text(SPEC_KEY + "\n")
    assert SecretKey.from_file(path) == key
    with pytest.raises(ValueError, match="cannot read"):
        SecretKey.from_file(tmp_path / "missing")
