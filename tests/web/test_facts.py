"""Amounts from the network (issue 14 item 2): ASCII digits only, bounded, else a BadFact that names
the field; never an exception of another kind."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minorguard.web.facts import MAX_AMOUNT_FEN, BadFact, amount_fen
from minorguard.web.routes import Source, Where

HEADER = Source(Where.HEADER, "X-Amount-Fen")
BODY = Source(Where.BODY, "amount_fen")


@pytest.mark.parametrize(
    "raw",
    [
        "²",  # passes str.isdigit(), int() refuses it
        "\u0663\u0664",  # Arabic-Indic digits: int() reads them as 34
        "\uff11\uff12",  # full-width digits
        "1" * 5000,  # past Python's int-string limit
        str(MAX_AMOUNT_FEN + 1),
        "-1",
        "+5",
        "1e3",
        "12.5",
        "0x10",
        "",
        " ",
        "1_000",
        -1,
        MAX_AMOUNT_FEN + 1,
        12.0,
        True,
        None,
        [1],
        {"fen": 1},
    ],
)
def test_an_amount_that_is_not_a_bounded_ascii_integer_is_refused(raw: object) -> None:
    with pytest.raises(BadFact, match="amount"):
        amount_fen(HEADER, raw)


@pytest.mark.parametrize(
    ("raw", "fen"), [("0", 0), (" 5001 ", 5001), (str(MAX_AMOUNT_FEN), MAX_AMOUNT_FEN), (42, 42)]
)
def test_a_bounded_integer_amount_is_read(raw: object, fen: int) -> None:
    assert amount_fen(BODY, raw) == fen


def test_the_refusal_names_where_the_amount_was_looked_for() -> None:
    with pytest.raises(BadFact, match="header parameter 'X-Amount-Fen'"):
        amount_fen(HEADER, "²")


@settings(max_examples=1000, derandomize=True)
@given(
    st.one_of(
        st.text(max_size=30),
        st.integers(),
        st.floats(),
        st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
    )
)
def test_any_value_is_an_amount_in_bounds_or_a_badfact(raw: object) -> None:
    try:
        fen = amount_fen(HEADER, raw)
    except BadFact:
        return
    assert isinstance(fen, int)
    assert 0 <= fen <= MAX_AMOUNT_FEN
