"""Mainland resident ID numbers (GB 11643-1999): 18 characters, the last an ISO 7064 MOD 11-2 check
character (0-9 or X), a birth date YYYYMMDD at positions 7-14.

Checked before a number goes to NPPA: a typo costs nothing here, while at NPPA it counts against the
identity's entry limit (2002). The number and the name are personal data: no message here contains them.
"""

from __future__ import annotations

import datetime as dt
import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # the check character for each value of (weighted sum mod 11)
_SHAPE = re.compile(r"[1-9][0-9]{16}[0-9X]", re.ASCII)
EARLIEST_BIRTH_YEAR = 1900  # the official test people are born in 1901 and 1902
NAME_MAX = 32


class InvalidIdentity(ValueError):
    """A name, ID number or ai that must not go to NPPA (the message never contains the value)."""


class InvalidIdNumber(InvalidIdentity):
    """The ID number is not a valid GB 11643 number."""


def check_character(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_id_number(value: str, *, today: dt.date | None = None) -> str:
    """The ID number, normalised (a trailing x upper-cased). InvalidIdNumber when the shape, the birth date
    or the check character is wrong."""
    number = value.strip().upper()
    if len(number) != 18:
        raise InvalidIdNumber("an ID number has 18 characters")
    if not _SHAPE.fullmatch(number):
        raise InvalidIdNumber("an ID number is 17 digits (the first not 0) and a digit or X")
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("the birth date inside the ID number is not a calendar date") from None
    if born.year < EARLIEST_BIRTH_YEAR or born > (today or dt.date.today()):
        raise InvalidIdNumber("the birth date inside the ID number is not plausible")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("the ID number's check character does not match (a typo?)")
    return number


def is_valid_id_number(value: str) -> bool:
    try:
        validate_id_number(value)
    except InvalidIdNumber:
        return False
    return True


def validate_name(value: str) -> str:
    """The real name as NPPA takes it: 1..32 characters, surrounding spaces removed."""
    name = value.strip()
    if not 0 < len(name) <= NAME_MAX:
        raise InvalidIdentity(f"a name has 1 to {NAME_MAX} characters")
    return name
