"""A token whose birth date cannot be a living person's is identity_invalid (issue 14 item 8): the same
rule as `policy explain` (minorguard.rules.birthdate)."""

from __future__ import annotations

import datetime as dt

import pytest

from minorguard.adapters.identity import (
    IdentityConfig,
    IdentityError,
    IdentityProblem,
    JwtVerifier,
    issue_token,
)

SECRET = "a-test-signing-key-of-at-least-32-bytes"


def verifier() -> JwtVerifier:
    return JwtVerifier(IdentityConfig(algorithms=("HS256",), issuer="t", audience="t", hs_secret=SECRET))


def signed(birthdate: dt.date) -> str:
    return issue_token(
        secret_or_private_key=SECRET,
        algorithm="HS256",
        subject="s",
        birthdate=birthdate,
        verified=True,
        issuer="t",
        audience="t",
    )


@pytest.mark.parametrize(
    ("birthdate", "message"),
    [
        (dt.date(1, 1, 1), "the birth date is before 1900-01-01, so no living person's"),
        (dt.date(1800, 1, 1), "the birth date is before 1900-01-01, so no living person's"),
        (dt.date(2030, 1, 1), "the birth date is in the future"),
    ],
)
async def test_an_implausible_birth_date_is_an_invalid_token(birthdate: dt.date, message: str) -> None:
    """0001-01-01 and 1800-01-01 were read as adults on every door; a future date as age 0."""
    check = verifier()
    try:
        with pytest.raises(IdentityError) as caught:
            await check.verify(signed(birthdate))
    finally:
        await check.close()
    assert (caught.value.kind, str(caught.value)) == (IdentityProblem.BAD_CLAIMS, f"bad_claims: {message}")


async def test_the_oldest_plausible_birth_date_is_accepted() -> None:
    """1901-01-01 (the NPPA test identities) is a real person's."""
    check = verifier()
    try:
        assert (await check.verify(signed(dt.date(1901, 1, 1)))).birthdate == dt.date(1901, 1, 1)
    finally:
        await check.close()
