"""Whether a verified birth date can be a living person's (issue 14 item 8).

One rule for every place a birth date enters: the identity adapter refuses a token that carries an
implausible one (identity_invalid, a 401 at every door), and `policy explain` and the table cases give
the same refusal, so staff never see "age 0 ... ALLOW" for a date no token could carry.

- The floor is 1900-01-01: nobody verified today was born earlier (the oldest people alive were born
  after 1900), and the NPPA test identities (born 1901-01-01) stay valid. 0001-01-01 and 1800-01-01, a
  system's "unknown" placeholders, are refused rather than read as adults.
- The future is judged in UTC+14, the zone furthest ahead: a date is refused only once it is in the
  future everywhere on Earth. The identity layer knows no policy zone, and this way the token check and
  `explain` never disagree; the policy zone would refuse nothing more than a baby born "tomorrow" in
  Beijing, who is age 0 either way.
"""

from __future__ import annotations

import datetime as dt

FLOOR = dt.date(1900, 1, 1)
AHEAD = dt.timezone(dt.timedelta(hours=14))  # Line Islands: the first zone to reach each date


def birthdate_problem(birthdate: dt.date, at: float) -> str | None:
    """Why `birthdate` cannot be a living person's at the instant `at` (epoch seconds), or None. The
    sentence names no date: the identity layer logs it, and a birth date is personal data."""
    if birthdate < FLOOR:
        return f"the birth date is before {FLOOR}, so no living person's"
    if birthdate > dt.datetime.fromtimestamp(at, AHEAD).date():
        return "the birth date is in the future"
    return None
