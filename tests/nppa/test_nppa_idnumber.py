"""GB 11643 check characters on the official test data, pi decoding of the preset pis, and the closed
error-code enum."""

from __future__ import annotations

import datetime as dt

import pytest
from nppafake import OK_IDS, PENDING_IDS, PIS

from minorguard.adapters.nppa import InvalidIdNumber, NppaCode, validate_id_number
from minorguard.adapters.nppa.idnumber import check_character, is_valid_id_number
from minorguard.adapters.nppa.selftest import FAILED_PEOPLE, PENDING_PEOPLE, PRESET_PIS, SUCCESS_PEOPLE
from minorguard.adapters.nppa_pi import birthdate_from_pi

SPEC_EXAMPLE_ID = "371321199012310912"  # in the encryption example; its check character is wrong


@pytest.mark.parametrize("number", OK_IDS + PENDING_IDS)
def test_every_preset_id_is_valid(number: str) -> None:
    assert validate_id_number(number) == number


def test_the_encryption_examples_id_is_invalid_and_not_echoed() -> None:
    with pytest.raises(InvalidIdNumber, match="check character") as raised:
        validate_id_number(SPEC_EXAMPLE_ID)
    assert SPEC_EXAMPLE_ID not in str(raised.value)
    assert check_character(SPEC_EXAMPLE_ID[:17]) != SPEC_EXAMPLE_ID[17]


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("11000019010101001", "18 characters"),
        ("01000019010101001X", "first not 0"),
        ("1100001901010100A1", "17 digits"),
        ("110000190102300001", "calendar date"),
        ("110000189912310001", "plausible"),
        ("110000299901010001", "plausible"),
    ],
)
def test_bad_numbers(number: str, problem: str) -> None:
    with pytest.raises(InvalidIdNumber, match=problem) as raised:
        validate_id_number(number)
    assert number not in str(raised.value)
    assert not is_valid_id_number(number)


def test_lowercase_x_is_normalised() -> None:
    assert validate_id_number(" 11000019010101001x ") == "11000019010101001X"


def test_preset_pis_decode_to_the_test_peoples_birth_dates() -> None:
    days = [birthdate_from_pi(pi) for pi in PIS]
    assert days == [dt.date(1901, 1, d) for d in (1, 2, 3, 4, 1, 2, 3, 4)]
    # ... which are the birth dates in the ID numbers they pair with
    assert [d.strftime("%Y%m%d") for d in days] == [n[6:14] for n in OK_IDS]


def test_selftest_presets_match_the_independently_typed_ones() -> None:
    assert [p[2] for p in SUCCESS_PEOPLE] == OK_IDS
    assert [p[2] for p in PENDING_PEOPLE] == PENDING_IDS
    assert list(PRESET_PIS) == PIS
    assert all(is_valid_id_number(p[2]) for p in FAILED_PEOPLE)
    assert not {p[2] for p in FAILED_PEOPLE} & set(OK_IDS + PENDING_IDS)


def test_error_codes_are_the_specifications() -> None:
    expected = {0, *range(1001, 1013), *range(2001, 2005), *range(3001, 3011), *range(4001, 4004)}
    assert {int(c) for c in NppaCode} == expected
    assert all(c.meaning for c in NppaCode)
    assert NppaCode.parse("1007") is NppaCode.REQUEST_EXPIRED
    assert NppaCode.parse(9999) is None
    assert NppaCode.SYS_ERROR.transient
    assert NppaCode.REQUEST_EXPIRED.transient
    assert not NppaCode.PARTNER_CHECK_ERROR.transient
