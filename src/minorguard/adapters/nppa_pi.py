"""The birth date inside an NPPA `pi` (the anti-addiction system's per-person identifier).

A `pi` is 38 characters: a 6-character birth date, then a 32-character code. The birth date is the
number YYYYMMDD written in base 26 with the digits 0-9 then a-p (so Python's `int(prefix, 26)` reads
it); the code is lowercase letters and digits. The official test identifiers start with `1fffbj`..`1fffbm`,
the test people born 1901-01-01..04.

A pi is personal data: error messages here say what is wrong with it, never what it is.
"""

from __future__ import annotations

import datetime as dt
import re

PI_LENGTH = 38
PREFIX_LENGTH = 6
_DIGITS = "0123456789abcdefghijklmnop"  # base 26, in the order int(..., 26) reads them
# ASCII only and fullmatch: int() alone would also take signs, underscores, spaces and non-ASCII digits.
_PREFIX = re.compile(r"[0-9a-p]{6}", re.ASCII)
_CODE = re.compile(r"[0-9a-z]{32}", re.ASCII)


def birthdate_from_pi(pi: str) -> dt.date:
    """The birth date encoded in the first 6 characters of an NPPA pi. ValueError when `pi` is not one."""
    if len(pi) != PI_LENGTH:
        raise ValueError(f"an NPPA pi has {PI_LENGTH} characters, this one has {len(pi)}")
    prefix, code = pi[:PREFIX_LENGTH], pi[PREFIX_LENGTH:]
    if not _PREFIX.fullmatch(prefix):
        raise ValueError("the first 6 characters of an NPPA pi are base-26 digits 0-9 and a-p")
    if not _CODE.fullmatch(code):
        raise ValueError("the last 32 characters of an NPPA pi are lowercase letters and digits")
    year, month_day = divmod(int(prefix, 26), 10_000)
    month, day = divmod(month_day, 100)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(
            "the first 6 characters of the NPPA pi do not encode a valid YYYYMMDD date"
        ) from None


def make_pi_prefix(date: dt.date) -> str:
    """The 6-character pi prefix of a birth date (the inverse of `birthdate_from_pi`, for tests/demos)."""
    value = date.year * 10_000 + date.month * 100 + date.day
    digits: list[str] = []
    while value:
        value, digit = divmod(value, 26)
        digits.append(_DIGITS[digit])
    # Years before ~1188 need only 5 base-26 digits; a leading zero keeps the prefix 6 characters.
    return "".join(reversed(digits)).rjust(PREFIX_LENGTH, "0")
