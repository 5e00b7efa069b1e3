"""Settings for imageaccess, read from the environment (see README "Configuration").

Defaults serve a laptop with nothing installed: SQLite in the data directory, a local-memory
cache, Celery tasks run eagerly and decision events go straight to the database.
``DATABASE_URL`` selects PostgreSQL and ``REDIS_URL`` selects Redis for cache, broker and the
event stream. A malformed value stops start-up with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from imageaccess.env import Env

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.string("IMAGEACCESS_DATA_DIR", "var"))
if not DATA_DIR.is_absolute():
    DATA_DIR = BASE_DIR / DATA_DIR

DEBUG = env.boolean("DJANGO_DEBUG", True)
_DEV_SECRET_KEY = "dev-insecure-imageaccess-key-change-me-0123456789-abcdefghijklmnop"
SECRET_KEY = env.string("DJANGO_SECRET_KEY", "" if not DEBUG else _DEV_SECRET_KEY)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
ALLOWED_HOSTS = env.items("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.items("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "orgs",
    "policies",
]

MIDDLEWARE = [
    "imageaccess.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "imageaccess.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "orgs.middleware.RequireOwnerTwoFactorMiddleware",
]

ROOT_URLCONF = "imageaccess.urls"
WSGI_APPLICATION = "imageaccess.wsgi.application"
ASGI_APPLICATION = "imageaccess.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "orgs.context_processors.organizations",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
_database_url = env.url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
if _database_url is None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "imageaccess.sqlite3",
        }
    }
else:
    try:
        DATABASES = {"default": dict(dj_database_url.parse(_database_url))}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from exc
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with every wait on the server bounded (imageaccess/postgresql).
        DATABASES["default"]["ENGINE"] = "imageaccess.postgresql"
        DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 600, minimum=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["OPTIONS"] = {
            "connect_timeout": 2,  # libpq's minimum; servers bound connecting tighter still
            # A peer that vanished (a partition, a dead host) is noticed by the kernel.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 5000,
        }
# Web servers give up on a database that does not answer within this bound, and then fail
# fast (503 with Retry-After) for IMAGEACCESS_DATABASE_BREAKER_SECONDS between probes; the
# Celery worker allows longer statements. Management commands are unbounded.
DATABASE_TIMEOUT_MS = env.integer("IMAGEACCESS_DATABASE_TIMEOUT_MS", 1500, minimum=100)
WORKER_DATABASE_TIMEOUT_MS = env.integer(
    "IMAGEACCESS_WORKER_DATABASE_TIMEOUT_MS", 30000, minimum=100
)
DATABASE_BREAKER_SECONDS = env.integer("IMAGEACCESS_DATABASE_BREAKER_SECONDS", 5, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery -------------------------------------------------------------------------
REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "imageaccess.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "imageaccess",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Auth and accounts (django-allauth) ----------------------------------------------------
# One backend (allauth's sign-in by username or email, with Django's permission checks): an
# attempt costs one password hash whether or not the account exists (orgs/backends.py).
AUTHENTICATION_BACKENDS = ["orgs.backends.AccountBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "orgs:list"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.choice(
    "IMAGEACCESS_EMAIL_VERIFICATION", "mandatory", ("mandatory", "optional", "none")
)
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_ADAPTER = "orgs.adapters.AccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.string("IMAGEACCESS_LOGIN_RATE_LIMIT", "10/m/ip,5/5m/key"),
}
SIGNUP_OPEN = env.boolean("IMAGEACCESS_SIGNUP_OPEN", True)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "imageaccess"

# --- Email ---------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.string("IMAGEACCESS_FROM_EMAIL", "imageaccess <noreply@localhost>")
_smtp_url = env.url("IMAGEACCESS_SMTP_URL", schemes=("smtp", "smtps"))
if _smtp_url:
    _smtp = urlsplit(_smtp_url)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _smtp.hostname or "localhost"
    EMAIL_PORT = _smtp.port or (465 if _smtp.scheme == "smtps" else 587)
    EMAIL_HOST_USER = unquote(_smtp.username or "")
    EMAIL_HOST_PASSWORD = unquote(_smtp.password or "")
    EMAIL_USE_SSL = _smtp.scheme == "smtps"
    EMAIL_USE_TLS = _smtp.scheme == "smtp" and EMAIL_PORT == 587
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orgs.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["imageaccess.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "imageaccess.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "imageaccess API",
    "DESCRIPTION": "Decide which Docker Hub images members of an organization may pull.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Personal access tokens ----------------------------------------------------------------
TOKEN_PEPPERS = env.peppers(
    "IMAGEACCESS_TOKEN_PEPPERS", "dev:development-pepper-not-for-production"
)
if not DEBUG and env.raw("IMAGEACCESS_TOKEN_PEPPERS") is None:
    raise ImproperlyConfigured("IMAGEACCESS_TOKEN_PEPPERS must be set when DJANGO_DEBUG=0")
TOKEN_LAST_USED_INTERVAL = 60


def _failed_auth_limit(value: str) -> tuple[int, int]:
    attempts, sep, window = value.partition("/")
    if not sep or not attempts.isdigit() or not window.isdigit() or int(window) < 1:
        raise ImproperlyConfigured(
            "IMAGEACCESS_FAILED_AUTH_LIMIT must look like 20/60 (failures per seconds)"
        )
    return int(attempts), int(window)


# Failed token authentications per client address and per username (API and /v2/token).
FAILED_AUTH_LIMIT = _failed_auth_limit(env.string("IMAGEACCESS_FAILED_AUTH_LIMIT", "20/60"))

# Reverse proxies in front of the app whose X-Forwarded-For entries are trusted, counted from
# the right (imageaccess/client_address.py); 0: the client address is REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.integer("IMAGEACCESS_BEHIND_PROXY", 0, minimum=0)

# --- Registry token service (/v2/token) -----------------------------------------------------
REGISTRY_KEY_FILE = Path(
    env.string("IMAGEACCESS_REGISTRY_KEY_FILE", str(DATA_DIR / "registry" / "token.key"))
)
REGISTRY_KEY_TYPE = env.choice("IMAGEACCESS_REGISTRY_KEY_TYPE", "ec", ("ec", "rsa"))
REGISTRY_EXTRA_CERTS = env.items("IMAGEACCESS_REGISTRY_EXTRA_CERTS", [])
REGISTRY_ISSUER = env.string("IMAGEACCESS_REGISTRY_ISSUER", "imageaccess")
REGISTRY_SERVICES = env.items("IMAGEACCESS_REGISTRY_SERVICES", [])
REGISTRY_ORGS = env.items("IMAGEACCESS_REGISTRY_ORGS", [])
REGISTRY_UPSTREAM = env.string("IMAGEACCESS_REGISTRY_UPSTREAM", "docker.io")
REGISTRY_DENIAL = env.choice("IMAGEACCESS_REGISTRY_DENIAL", "message", ("message", "empty_grant"))
REGISTRY_TOKEN_TTL = env.integer("IMAGEACCESS_REGISTRY_TOKEN_TTL", 300, minimum=30)
REGISTRY_REFRESH_TTL = env.integer("IMAGEACCESS_REGISTRY_REFRESH_TTL", 86400, minimum=60)

# --- Decision snapshots ---------------------------------------------------------------------
SNAPSHOT_REFRESH_SECONDS = (
    float(env.integer("IMAGEACCESS_SNAPSHOT_REFRESH_MS", 1000, minimum=0)) / 1000
)
SNAPSHOT_MAX_STALENESS_SECONDS = float(
    env.integer("IMAGEACCESS_MAX_STALENESS_SECONDS", 30, minimum=0)
)
TOKEN_CACHE_SECONDS = float(env.integer("IMAGEACCESS_TOKEN_CACHE_MS", 1500, minimum=0)) / 1000

# --- Decision events ------------------------------------------------------------------------
EVENT_STREAM = env.string("IMAGEACCESS_EVENT_STREAM", "imageaccess:decision-events")
EVENT_GROUP = "imageaccess-db"
EVENT_BATCH_SIZE = env.integer("IMAGEACCESS_EVENT_BATCH_SIZE", 500, minimum=1)
EVENT_CLAIM_IDLE_SECONDS = env.integer("IMAGEACCESS_EVENT_CLAIM_IDLE_SECONDS", 30, minimum=1)
EVENT_RETENTION_DAYS = env.integer("IMAGEACCESS_EVENT_RETENTION_DAYS", 90, minimum=1)
EVENT_DRAIN_INTERVAL = env.integer("IMAGEACCESS_EVENT_DRAIN_INTERVAL", 2, minimum=1)
# Production start-up refuses a Redis that would lose the event stream on a restart (no AOF,
# or an eviction policy that may drop it) unless the operator accepts that loss.
ALLOW_VOLATILE_REDIS = env.boolean("IMAGEACCESS_ALLOW_VOLATILE_REDIS", False)
# The worker's task modules (tasks live in the rooms of an app, not in ``<app>.tasks``).
CELERY_IMPORTS = ["policies.events.tasks"]
CELERY_BEAT_SCHEDULE = {
    "drain-decision-events": {
        "task": "policies.tasks.drain_decision_events",
        "schedule": float(EVENT_DRAIN_INTERVAL),
        "options": {"expires": float(EVENT_DRAIN_INTERVAL) * 5},
    },
    "roll-up-and-purge-events": {
        "task": "policies.tasks.roll_up_and_purge_events",
        "schedule": 300.0,
    },
}

# --- Internationalization, static ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"

# Bodies above this get 413 before any view reads them; decision calls are tiny.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("IMAGEACCESS_MAX_BODY_BYTES", 1_048_576, minimum=1024)

# --- Security ------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.boolean("IMAGEACCESS_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.integer("IMAGEACCESS_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if TRUSTED_PROXY_COUNT:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Every record is redacted when it is made (imageaccess.logging.configure), and every logger
# a server writes to ends at the one redacting handler: the loggers that Django, Celery,
# granian and gunicorn give handlers of their own are emptied and propagate to the root.
# Access logs (granian.access, gunicorn.access, django.server) log at INFO whenever the
# server's own switch turns them on (`GRANIAN_LOG_ACCESS_ENABLED=1` for `make serve`).
LOGGING_CONFIG = "imageaccess.logging.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "imageaccess.logging.RedactTokensFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]},
    },
    "root": {"handlers": ["console"], "level": env.string("IMAGEACCESS_LOG_LEVEL", "INFO")},
    "loggers": {
        name: {"handlers": [], "propagate": True, **({"level": "INFO"} if access else {})}
        for name, access in (
            ("django", False),
            ("django.request", False),
            ("django.security", False),
            ("django.server", True),
            ("celery", False),
            ("granian.access", True),
            ("_granian", True),
            ("gunicorn.access", True),
            ("gunicorn.error", False),
        )
    },
}
