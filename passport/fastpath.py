"""The public scan page's fast path: an anonymous GET of /p/{code} answered from its shared rendering.

Everyone who scans a battery anonymously sees the same public tier, so the page rendered for one of
them is kept (`PASSPORT_PAGE_CACHE_SECONDS`, dropped whenever its story changes) and served to the next
with the headers the rest of the middleware stack gave it. This middleware sits right after the security
and static-file middleware: a hit costs one cache round trip (on Redis, one pipeline that counts the
request against the scan rate limit and reads the page) and none of the session, locale, CSRF, message,
CSP or URL-resolving work. Everything else (a session or message cookie, a query string, a page not
shared yet, a reader over the rate limit) goes down the stack unchanged, and the view counts the request
against the same limit only if the fast path did not.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from core.cache import PooledRedisCache
from passport import ratelimits, selectors

logger = logging.getLogger(__name__)

PREFIX = "/p/"
# Set by the passport view on a response every anonymous reader of that language may share.
SHAREABLE = "voltrace_public_page"


class PublicPageMiddleware:
    """Serve and keep the shared anonymous rendering of /p/{code} (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.personal_cookies = (
            settings.SESSION_COOKIE_NAME,
            getattr(settings, "MESSAGE_COOKIE_NAME", "messages"),  # messages waiting to be shown
        )
        # A language prefix in paths, DISALLOWED_USER_AGENTS or PREPEND_WWW make the stack answer
        # differently from a stored page: then every request takes the stack.
        self.enabled = not (
            settings.DISALLOWED_USER_AGENTS
            or settings.PREPEND_WWW
            or is_language_prefix_patterns_used(settings.ROOT_URLCONF)[0]
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        code = self._code(request)
        if code is None:
            return self.get_response(request)
        # What LocaleMiddleware decides for a path without a language prefix.
        language = translation.get_language_from_request(request, check_path=False)
        counted, entry = _lookup(request, selectors.public_page_key(code, language))
        if counted is not None:
            ratelimits.remember(request, counted)  # the view must not count this request again
            if entry is not None and not counted.limited:
                body, headers = entry
                return HttpResponse(body, headers=headers)
        response = self.get_response(request)
        shared = getattr(response, SHAREABLE, None)
        if shared is not None and response.status_code == 200 and not response.cookies:
            shared_code, shared_language = shared
            selectors.share_public_page(
                shared_code, shared_language, (response.content, dict(response.headers.items()))
            )
        return response

    def _code(self, request: HttpRequest) -> str | None:
        path = request.path_info
        if (
            not self.enabled
            or request.method != "GET"
            or not path.startswith(PREFIX)
            or request.META.get("QUERY_STRING")
            or any(name in request.COOKIES for name in self.personal_cookies)
        ):
            return None
        code = path[len(PREFIX) :]
        if not code or "/" in code:
            return None
        try:
            request.get_host()  # an unknown host gets the stack's 400, not a page
        except DisallowedHost:
            return None
        return code


def _lookup(request: HttpRequest, key: str) -> tuple[ratelimits.ScanUsage | None, Any]:
    """Count the request against the scan rate limit and read the shared page: (usage, entry or None).

    (None, None) when the cache failed: the stack then answers and counts as it always has.
    """
    backend = caches[DEFAULT_CACHE_ALIAS]
    try:
        if isinstance(backend, PooledRedisCache):
            return _lookup_redis(request, backend, key)
        return ratelimits.count_scan(request), backend.get(key)
    except Exception:  # the cache is an optimisation here; the stack handles its absence
        logger.warning("Shared passport page unreadable; answering through the stack.", exc_info=True)
        return None, None


def _lookup_redis(request: HttpRequest, backend: PooledRedisCache, key: str) -> tuple[Any, Any]:
    counter, lifetime = ratelimits.scan_counter(request)
    client = backend._cache.get_client(write=True)  # one pipeline instead of three calls
    pipeline = client.pipeline(transaction=False)
    if counter is not None:
        # What django-ratelimit does with add + incr, in the same round trip as the read: INCR creates
        # the window's counter at 1, and only a counter without one gets its expiry.
        counter = backend.make_and_validate_key(counter)
        pipeline.incr(counter)
        pipeline.expire(counter, lifetime, nx=True)
    pipeline.get(backend.make_and_validate_key(key))
    results = pipeline.execute()
    usage = ratelimits.usage_from_count(int(results[0]) if counter is not None else None)
    raw = results[-1]
    # Django's Redis cache pickles what it stores (integers excepted); pages are written through it.
    return usage, (pickle.loads(raw) if raw is not None else None)  # noqa: S301 - written by this app
