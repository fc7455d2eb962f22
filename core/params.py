"""Record ids read from query strings: whole numbers that a database id column can hold.

A path's `<int:pk>` already refuses anything else; a query parameter is only text, and a number beyond
the 64-bit id range, a fraction or a non-ASCII digit would otherwise reach the database (SQLite cannot
bind integers past 2**63 - 1) or `int()` and end in a server error instead of a clear refusal.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms

ID_MAX = 2**63 - 1  # BigAutoField


def parse_id(value: str) -> int | None:
    """The id `value` names, or None when it is not a whole number from 1 to ID_MAX in ASCII digits."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(ID_MAX)):
        return None
    number = int(text)
    return number if 0 < number <= ID_MAX else None


class IdFilter(django_filters.NumberFilter):
    """A filter on a record id: whole numbers from 1 to ID_MAX; anything else is refused with the
    form field's own (translated) message."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)
