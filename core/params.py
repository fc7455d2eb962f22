"""Record ids read from requests: whole numbers from 1 to ID_MAX, or a clear refusal naming the field.

A path's `<int:pk>` already refuses anything else. A query parameter is only text, and a request body's
number may be any size: past 2**63 - 1 SQLite cannot bind it, past 2**53 - 1 it has no exact JSON form,
so the canonical fingerprint of an idempotent request (RFC 8785) cannot be computed, and a fraction, a
negative number or a non-ASCII digit is no id at all. Each of these used to end in a server error.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from rest_framework import serializers

# The largest integer JSON carries exactly (I-JSON, RFC 7493); ids are issued far below it.
ID_MAX = 2**53 - 1


def parse_id(value: str) -> int | None:
    """The id `value` names, or None when it is not a whole number from 1 to ID_MAX in ASCII digits."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(ID_MAX)):
        return None
    number = int(text)
    return number if 0 < number <= ID_MAX else None


class IdFormField(forms.IntegerField):
    """A record id in a web form or a query string: a whole number from 1 to ID_MAX."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """A filter on a record id; anything but an id is refused with the form field's (translated) message."""

    field_class = IdFormField


class IdField(serializers.IntegerField):
    """A record id in a request body: a whole number from 1 to ID_MAX."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)
