"""Voltrace settings: one file, every deployment difference read from the environment.

With no environment at all and DEBUG on, Voltrace runs embedded: SQLite under var/, a filesystem
broker for Celery, and development keys generated into var/ (with a loud warning). With DEBUG off,
every secret must be provided and a missing one stops start-up naming the variable.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Core
DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _required_secret(name: str, *, dev_default: callable) -> str:  # type: ignore[valid-type]
    """Read a secret from the environment; only with DEBUG on, fall back to a generated dev file."""
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"The environment variable {name} is required when DEBUG is off. "
            f"See .env.example for what it holds and how to generate it."
        )
    path = VAR_DIR / "dev-secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dev_default())
        path.chmod(0o600)
    print(
        f"WARNING: {name} is not set; using a DEVELOPMENT value from {path}. "
        "This works only with DEBUG on and must never be used in production.",
        file=sys.stderr,
    )
    return path.read_text().strip()


def _random_key_b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


SECRET_KEY = _required_secret("SECRET_KEY", dev_default=lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else "").rstrip("/")
if not PUBLIC_BASE_URL:
    raise ImproperlyConfigured(
        "The environment variable PUBLIC_BASE_URL is required when DEBUG is off "
        "(the address QR codes point to, e.g. https://passport.example.com)."
    )

# Keys: envelope encryption key ring ("id:base64" entries, the first one encrypts) and the
# transparency log's Ed25519 signing key (base64 of the 32-byte private seed).
KEY_ENCRYPTION_KEYS = _required_secret(
    "KEY_ENCRYPTION_KEYS", dev_default=lambda: f"dev-{secrets.token_hex(4)}:{_random_key_b64(32)}"
)
LOG_SIGNING_KEY = _required_secret("LOG_SIGNING_KEY", dev_default=lambda: _random_key_b64(32))
# Keyed hash (HMAC-SHA-256) that replaces battery codes in anonymised exports: base64 of 32 random bytes.
PSEUDONYM_KEY = _required_secret("PSEUDONYM_KEY", dev_default=lambda: _random_key_b64(32))
LOG_ORIGIN = env.str("LOG_ORIGIN", default="voltrace.example/log")
TELEMETRY_CIPHER = env.str("TELEMETRY_CIPHER", default="AES-256-GCM")
if TELEMETRY_CIPHER not in {"AES-256-GCM", "SM4-GCM"}:
    raise ImproperlyConfigured("TELEMETRY_CIPHER must be AES-256-GCM or SM4-GCM.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "rules.apps.AutodiscoverRulesConfig",
    "core",
    "accounts",
    "crossborder",
    "licensing",
    "passport",
    "custody",
    "reports",
    "compliance",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Anonymous /p/{code} scans answered from their shared rendering, before sessions and locale.
    "passport.fastpath.PublicPageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "core.context_processors.navigation",
            ],
        },
    },
]

# Database
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'voltrace.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Hot paths (custody steps) prepare their few statements once per PostgreSQL connection; turn off behind
# a connection pooler that does not keep prepared statements (pgbouncer in transaction mode before 1.21).
PREPARED_HOT_STATEMENTS = env.bool("PREPARED_HOT_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process, the worker and beat share one SQLite file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (rate limits, cached QR images): Redis when configured, else a file cache under var/.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "core.cache.PooledRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # django-ratelimit wants a shared atomic cache; the embedded file cache is good enough for one machine.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# Passwords and sessions
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: UTC in storage, shown in the facility's zone.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static and media files
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)

# Security
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Email (licence warnings and alerts)
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Voltrace <noreply@voltrace.invalid>")

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.VoltraceAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler.domain_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
        "login": env.str("THROTTLE_LOGIN", default="20/minute"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voltrace API",
    "DESCRIPTION": "Battery passport and chain-of-custody platform: licences, passports, signed BMS "
    "snapshots, custody events and a verifiable transparency log.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema name per choice set, so clients see e.g. LicenceKind and OrganisationKind, not Kind1/Kind2.
    "ENUM_NAME_OVERRIDES": {
        "OrganisationKindEnum": "accounts.models.Organisation.Kind",
        "MembershipRoleEnum": "accounts.models.Membership.Role",
        "LicensedActivityEnum": "licensing.models.Activity",
        "LicenceKindEnum": "licensing.models.Licence.Kind",
        "LicenceStatusEnum": "licensing.models.Licence.Status",
        "LicenceEventKindEnum": "licensing.models.LicenceEvent.Kind",
        "BatteryStatusEnum": "passport.models.Battery.Status",
        "JobStatusEnum": "passport.models.Job.Status",
        # compliance: the checklist's colours, scopes and point keys
        "ChecklistStatusEnum": "compliance.checklist.STATUSES",
        "ChecklistScopeEnum": "compliance.checklist.SCOPES",
        "ChecklistPointKeyEnum": "compliance.checklist.POINT_KEYS",
        # crossborder: approvals' legal bases and statuses, export log outcomes
        "TransferApprovalBasisEnum": "crossborder.models.TransferApproval.Basis",
        "TransferApprovalStatusEnum": "crossborder.models.TransferApproval.Status",
        "ExportOutcomeEnum": "crossborder.models.ExportLogEntry.Outcome",
    },
}

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under var/ so a real
# worker and beat run with no server. Eager mode is never used outside unit tests.
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://localhost//"  # the host is ignored; naming it keeps kombu from warning
    for _folder in ("out", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "core-heartbeat": {"task": "core.record_worker_heartbeat", "schedule": timedelta(seconds=30)},
}
# Licensing: daily expiry job, just after midnight in China (16:05 UTC = 00:05 Asia/Shanghai).
# The job is idempotent and records each expiry at the licence's exact local end of day, whenever it runs.
CELERY_BEAT_SCHEDULE["licensing-expiry"] = {
    "task": "licensing.run_expiry_job",
    "schedule": crontab(hour=16, minute=5),
}

# Transparency log: its tasks live in custody.transparency.tasks (outside Celery's autodiscovery), and a
# checkpoint is published every minute if the tree grew (also sooner, right after sequencing).
CELERY_IMPORTS = ["custody.transparency.tasks"]
CELERY_BEAT_SCHEDULE["custody-publish-checkpoint"] = {
    "task": "custody.publish_checkpoint",
    "schedule": timedelta(minutes=1),
}

# Custody: unanswered transfer offers expire every 10 minutes; the integrity self-audit runs nightly
# (03:15 UTC), after the snapshot retention job.
CELERY_BEAT_SCHEDULE["custody-expire-transfers"] = {
    "task": "custody.expire_transfers",
    "schedule": timedelta(minutes=10),
}
CELERY_BEAT_SCHEDULE["custody-self-audit"] = {
    "task": "custody.self_audit",
    "schedule": crontab(hour=3, minute=15),
}

# Health: how recent a worker heartbeat must be for /healthz to call the worker reachable.
WORKER_HEARTBEAT_MAX_AGE = timedelta(seconds=env.int("WORKER_HEARTBEAT_MAX_AGE", default=120))

# Logging
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Passport: requests per client address allowed on the public scan page (django-ratelimit syntax).
PASSPORT_SCAN_RATE = env.str("PASSPORT_SCAN_RATE", default="300/m")
# Passport: seconds an anonymous scan may see a shared rendering of the public tier (0: render each time).
PASSPORT_PAGE_CACHE_SECONDS = env.int("PASSPORT_PAGE_CACHE_SECONDS", default=30)

# BMS snapshots (passport.snapshots): retention in years after capture (8 at least; a system check refuses
# less), the clock skew allowed for captured_at, ingest size limits, and the daily retention job
# (02:30 UTC) that crypto-shreds expired payloads not under a legal hold.
SNAPSHOT_RETENTION_YEARS = env.int("SNAPSHOT_RETENTION_YEARS", default=8)
SNAPSHOT_CLOCK_SKEW = timedelta(seconds=env.int("SNAPSHOT_CLOCK_SKEW_SECONDS", default=300))
SNAPSHOT_BATCH_MAX_ITEMS = 1000
SNAPSHOT_BATCH_MAX_BYTES = env.int("SNAPSHOT_BATCH_MAX_BYTES", default=16 * 1024 * 1024)
SNAPSHOT_UPLOAD_MAX_BYTES = env.int("SNAPSHOT_UPLOAD_MAX_BYTES", default=512 * 1024 * 1024)
CELERY_BEAT_SCHEDULE["passport-enforce-retention"] = {
    "task": "passport.enforce_retention",
    "schedule": crontab(hour=2, minute=30),
}

# Reports (reports app): the most batteries and lots one report may cover, how long built files are kept,
# and the sweep (every 15 minutes) that deletes expired files and marks their reports expired.
REPORT_MAX_SUBJECTS = env.int("REPORT_MAX_SUBJECTS", default=10_000)
REPORT_TTL_HOURS = env.int("REPORT_TTL_HOURS", default=72)
# PDF reports: worker processes laying out pages in parallel (0: lay out in the report's own process).
REPORT_PDF_PROCESSES = env.int("REPORT_PDF_PROCESSES", default=os.cpu_count() or 1)
CELERY_BEAT_SCHEDULE["reports-expire"] = {
    "task": "reports.expire_reports",
    "schedule": timedelta(minutes=15),
}
