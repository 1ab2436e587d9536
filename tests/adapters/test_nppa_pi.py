"""Tests of the birth date inside an NPPA pi, against the anti-addiction system's published test pis."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minorguard.adapters.nppa_pi import PI_LENGTH, birthdate_from_pi, make_pi_prefix

# The 8 test pis of the NPPA login/logout test cases; they pair with preset test IDs born 1901-01-01..04.
OFFICIAL_TEST_PIS = {
    "1fffbjzos82bs9cnyj1dna7d6d29zg4esnh99u": dt.date(1901, 1, 1),
    "1fffbkmd9ebtwi7u7f4oswm9li6twjydqs7qjv": dt.date(1901, 1, 2),
    "1fffblf892i0p1zh6wlec2quukxtw29v4yismp": dt.date(1901, 1, 3),
    "1fffbmr55j92gttv5wxspm0mgvw8x3p0n7cy0j": dt.date(1901, 1, 4),
    "1fffbjqfba5y6uwr55cdak6faokhm4s02qkyue": dt.date(1901, 1, 1),
    "1fffbkrwndszes1sngfx3v6pdqh87fi4zhz9ur": dt.date(1901, 1, 2),
    "1fffbl6st3fbp199i8zh5ggcp84fgo3rj7pn1y": dt.date(1901, 1, 3),
    "1fffbmzwmr1k3y8bri2linqbhnvmu510u5jj6z": dt.date(1901, 1, 4),
}
CODE = "zos82bs9cnyj1dna7d6d29zg4esnh99u"  # the 32-character code of the first official test pi


@pytest.mark.parametrize(("pi", "born"), OFFICIAL_TEST_PIS.items())
def test_official_test_pis(pi: str, born: dt.date) -> None:
    assert len(pi) == PI_LENGTH
    assert birthdate_from_pi(pi) == born


def test_prefix_is_base_26_yyyymmdd() -> None:
    assert int("1hpfml", 26) == 20100101
    assert birthdate_from_pi("1hpfml" + CODE) == dt.date(2010, 1, 1)
    assert make_pi_prefix(dt.date(2010, 1, 1)) == "1hpfml"
    assert make_pi_prefix(dt.date(1901, 1, 1)) == "1fffbj"


def test_prefix_of_an_early_year_is_zero_padded() -> None:
    prefix = make_pi_prefix(dt.date(1000, 1, 1))
    assert len(prefix) == 6
    assert prefix.startswith("0")
    assert birthdate_from_pi(prefix + CODE) == dt.date(1000, 1, 1)


@given(st.dates())
def test_prefix_round_trips(date: dt.date) -> None:
    assert birthdate_from_pi(make_pi_prefix(date) + CODE) == date


@pytest.mark.parametrize(
    ("pi", "says"),
    [
        ("", "38 characters"),
        ("1hpfml" + CODE[:-1], "38 characters"),
        ("1hpfml" + CODE + "0", "38 characters"),
        ("1HPFML" + CODE, "base-26"),  # the prefix is lowercase
        ("1hpfmq" + CODE, "base-26"),  # q is not a base-26 digit
        ("+hpfml" + CODE, "base-26"),  # int(..., 26) would take a sign
        ("1_pfml" + CODE, "base-26"),  # ... and underscores
        (" hpfml" + CODE, "base-26"),  # ... and spaces
        ("1hpfm\u0661" + CODE, "base-26"),  # ... and non-ASCII digits (ARABIC-INDIC ONE)
        ("1hpfml" + CODE.upper(), "lowercase letters and digits"),
        ("1hpfml" + "-" * 32, "lowercase letters and digits"),
        ("000000" + CODE, "valid YYYYMMDD"),
    ],
)
def test_not_a_pi(pi: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        birthdate_from_pi(pi)
    if pi:
        assert pi not in str(raised.value)  # a pi is personal data: never echoed


def base26(value: int) -> str:
    digits = ""
    while value:
        value, digit = divmod(value, 26)
        digits = "0123456789abcdefghijklmnop"[digit] + digits
    return digits.rjust(6, "0")


@pytest.mark.parametrize("yyyymmdd", [20101301, 20100230, 20100100, 19000229, 99999999])
def test_prefix_that_is_not_a_date(yyyymmdd: int) -> None:
    with pytest.raises(ValueError, match="valid YYYYMMDD"):
        birthdate_from_pi(base26(yyyymmdd) + CODE)


def test_largest_prefix_is_not_a_date() -> None:
    assert int("pppppp", 26) == 26**6 - 1  # 308915775: year 30891, beyond datetime.date
    with pytest.raises(ValueError, match="valid YYYYMMDD"):
        birthdate_from_pi("pppppp" + CODE)


@given(st.text(max_size=60))
def test_any_text_is_a_date_or_a_value_error(text: str) -> None:
    try:
        born = birthdate_from_pi(text)
    except ValueError:
        return
    assert isinstance(born, dt.date)
