"""Record ids from query strings: only whole numbers an id column holds."""

from __future__ import annotations

import pytest

from core.params import ID_MAX, parse_id


@pytest.mark.parametrize(("text", "expected"), [("1", 1), (" 42 ", 42), ("007", 7), (str(ID_MAX), ID_MAX)])
def test_parse_id_reads_whole_numbers_in_range(text: str, expected: int) -> None:
    assert parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0", "-3", "1.5", "1e3", "²", "١٢", "１２", str(ID_MAX + 1), "9" * 400, "12a", "0x10"],
)
def test_parse_id_refuses_anything_else(text: str) -> None:
    assert parse_id(text) is None
