"""Test settings: fixed test-only secrets, fast hashing, local-memory email."""

import os
import tempfile

for _name, _value in {
    "SECRET_KEY": "test-only-secret-key-not-for-production-use-0123456789",
    "KEY_ENCRYPTION_KEYS": "test-k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "LOG_SIGNING_KEY": "n2hWfMwF9kEYYTbsF7LOOc0VBMkmgwmGDdxEfV2mmQU=",
    "PSEUDONYM_KEY": "cHNldWRvbnltLXRlc3Qta2V5LW5vdC1mb3ItcHJvZHVjdGlvbg==",
    "PUBLIC_BASE_URL": "https://passport.test",
    "SECURE_SSL_REDIRECT": "false",
    "VAR_DIR": tempfile.mkdtemp(prefix="voltrace-test-"),
}.items():
    os.environ.setdefault(_name, _value)

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if REDIS_URL:  # noqa: F405
    # One Redis database per test process: a test's cache.clear() (FLUSHDB) must not reach its neighbours.
    _worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    CACHES["default"]["LOCATION"] = REDIS_URL.rsplit("/", 1)[0] + f"/{1 + _worker % 15}"  # noqa: F405
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(exist_ok=True)
