from __future__ import annotations

import pytest

from core.cache import PooledRedisCache
from tests.conftest import need_service


@pytest.fixture
def redis_cache(settings):
    import redis

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/0"
    try:
        reachable = bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        reachable = False
    need_service(reachable, f"Redis at {url}")
    cache = PooledRedisCache(url.rsplit("/", 1)[0] + "/14", {"KEY_PREFIX": "test-pooled"})
    yield cache
    cache.clear()


def test_pooled_redis_cache_reuses_one_client_per_pool(redis_cache):
    redis_cache.set("answer", 42)
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache.get("answer") == 42
    assert redis_cache._cache.get_client(write=True) is client


def test_pooled_redis_cache_supports_the_operations_rate_limits_use(redis_cache):
    assert redis_cache.add("hits", 0, timeout=60) is True
    assert redis_cache.incr("hits") == 1
    assert redis_cache.incr("hits") == 2
    assert redis_cache.add("hits", 0, timeout=60) is False
