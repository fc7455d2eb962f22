"""The scan rate limit of the public passport page, counted once per request wherever it is answered.

The page is answered either by the fast path (`passport.fastpath`) or by the view. Both count against
one django-ratelimit counter, the one the view's `@ratelimit(key="ip")` decorator has always used (same
group, key and window), so a reader's budget is the same whichever path serves them. The fast path
counts in the same Redis round trip as its page read and leaves its count on the request; the view
then uses that count instead of counting again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit import ALL
from django_ratelimit.core import (
    EXPIRATION_FUDGE,
    _get_ip,
    _get_window,
    _make_cache_key,
    _split_rate,
    get_usage,
)

# The group django-ratelimit derived from `passport.views.passport_page`, kept so counters carry over.
GROUP = "passport.views.passport_page"
_USAGE = "_voltrace_scan_usage"


@dataclass(frozen=True)
class ScanUsage:
    """Whether this request is over the scan rate limit (counted once, by whichever path came first)."""

    limited: bool


def scan_rate() -> str:
    return settings.PASSPORT_SCAN_RATE


def scan_counter(request: HttpRequest) -> tuple[str | None, int]:
    """The cache key (before the cache's own prefix) of this reader's counter and its lifetime in seconds,
    exactly as django-ratelimit computes them; (None, 0) when rate limiting is switched off."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None, 0
    rate = scan_rate()
    _limit, period = _split_rate(rate)
    value = _get_ip(request)
    window = _get_window(value, period)
    return _make_cache_key(GROUP, window, rate, value, ALL), period + EXPIRATION_FUDGE


def usage_from_count(count: int | None) -> ScanUsage:
    """The usage a counter value means (None: not counted, because rate limiting is off)."""
    if count is None:
        return ScanUsage(limited=False)
    limit, _period = _split_rate(scan_rate())
    return ScanUsage(limited=count > limit)


def count_scan(request: HttpRequest) -> ScanUsage:
    """Count this request through django-ratelimit itself (any cache backend)."""
    usage = get_usage(request, group=GROUP, key="ip", rate=scan_rate(), method=ALL, increment=True)
    return ScanUsage(limited=bool(usage and usage["should_limit"]))


def remember(request: HttpRequest, usage: ScanUsage) -> None:
    """Record that this request has been counted, and how it stood."""
    setattr(request, _USAGE, usage)


def limit_scans(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like `@ratelimit(key="ip", rate=..., block=False)`: sets `request.limited`, counting only once."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        usage = getattr(request, _USAGE, None) or count_scan(request)
        remember(request, usage)
        request.limited = usage.limited or getattr(request, "limited", False)
        return view(request, *args, **kwargs)

    return wrapper
