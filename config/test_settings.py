"""Test settings: fixed test-only secrets, fast hashing, local-memory email."""

import os
import tempfile

for _name, _value in {
    "SECRET_KEY": "test-only-secret-key-not-for-production-use-0123456789",
    "KEY_ENCRYPTION_KEYS": "test-k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "LOG_SIGNING_KEY": "n2hWfMwF9kEYYTbsF7LOOc0VBMkmgwmGDdxEfV2mmQU=",
    "PUBLIC_BASE_URL": "https://passport.test",
    "SECURE_SSL_REDIRECT": "false",
    "VAR_DIR": tempfile.mkdtemp(prefix="voltrace-test-"),
}.items():
    os.environ.setdefault(_name, _value)

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if not REDIS_URL:  # noqa: F405
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHES["default"]["KEY_PREFIX"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(exist_ok=True)
