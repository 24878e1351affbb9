"""Settings for the CPT license compliance portal, read from the environment.

Development needs nothing set: SQLite under var/, DEBUG on, a development key.
Production is `DJANGO_ENV=production`: DEBUG off, a real SECRET_KEY and ALLOWED_HOSTS
are required, and every `manage.py check --deploy` hardening setting is on.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

_DEVELOPMENT_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION or not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production needs a long random secret, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = _DEVELOPMENT_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Sign-in protection: lockout after failed sign-ins, TOTP and backup codes, the Content-Security-Policy.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "import_export",
    "simple_history",
    "licensing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response, error pages included.
    "csp.middleware.CSPMiddleware",
    "portal.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # Reads each person's organization scope once per request (licensing.access).
    "licensing.access.ScopeMiddleware",
    # The license year a page shows (?year=), read once per request (licensing.shown_year).
    "licensing.shown_year.ShownYearMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs out a session idle for SESSION_IDLE_MINUTES, then asks for the second factor where one is due
    # (both need messages for what they tell the person).
    "portal.security.IdleTimeoutMiddleware",
    "portal.security.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the signed-in person on every history row written during a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Refuses sign-ins for a locked-out account; axes wants it last.
    "axes.middleware.AxesMiddleware",
]

# axes first: it refuses a locked-out account before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"
# Widgets drawn by Jinja2 from Django's own copies, the rest by Django's engine (portal/form_rendering.py).
FORM_RENDERER = "portal.form_rendering.WidgetRenderer"


def _default_database_url() -> str:
    VAR_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"


DATABASES = {"default": env.db_url("DATABASE_URL", default=_default_database_url())}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a seed or import writes; a timeout avoids "database is locked".
    # IMMEDIATE: two people saving at once wait for each other instead of failing (portal/sqlite.py), and
    # read-only requests are begun deferred so they never wait for a save.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    MIDDLEWARE.insert(0, "portal.sqlite.ReadOnlyRequestsDeferred")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
if not PRODUCTION:
    # whitenoise warns on every request when the collected-static folder does not exist yet.
    Path(STATIC_ROOT).mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]


def _file_storage() -> dict:
    """Where uploaded and generated files live (imports' uploads, jobs' results), read through Django's storage
    API by every web process and worker alike: a folder (MEDIA_ROOT) by default, which several app servers must
    share, or an S3-compatible bucket with STORAGE_BACKEND=s3 (docs/deploy.md)."""
    backend = env.str("STORAGE_BACKEND", default="local").lower()
    if backend == "local":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    if backend != "s3":
        raise ImproperlyConfigured(f"STORAGE_BACKEND is {backend!r}: use 'local' (a folder, MEDIA_ROOT) or 's3'.")
    bucket = env.str("AWS_STORAGE_BUCKET_NAME", default="")
    if not bucket:
        raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs AWS_STORAGE_BUCKET_NAME, the bucket the files go to.")
    # Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (django-storages reads them from the environment),
    # else boto3's own chain (an instance or pod role), so no secret passes through settings.
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # "path" for stores that have no per-bucket host names (MinIO and the like); empty: boto3 chooses.
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
            "location": env.str("AWS_LOCATION", default=""),
            # Files are evidence and personal data: private, and only ever served through the portal's own views
            # (which check who asks), so no object gets a public or a signed URL.
            "default_acl": "private",
            "querystring_auth": False,
            # Two uploads of the same name get two objects, as on a folder; never one silently replacing another.
            "file_overwrite": False,
        },
    }


STORAGES = {
    "default": _file_storage(),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
# Anything django-import-export's own admin views keep between two requests goes to the storage above, not to
# the temporary folder of whichever app server took the upload (the portal's import pages keep theirs in
# DataImport.upload, on the same storage).
IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.MediaStorage"

# Outgoing mail (reminders): printed on the console unless configured, either as one EMAIL_URL
# (smtp+tls://user:password@host:587, consolemail://, ...) or field by field.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
if env.str("EMAIL_URL", default=""):
    # What the URL names (backend, host, port, user, password, TLS or SSL, file path) wins over the fields.
    globals().update({name: value for name, value in env.email_url("EMAIL_URL").items() if value not in (None, "")})
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cpt-compliance@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where the portal is reached, for the links in e-mails (no trailing slash needed).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")

# History is evidence: nobody reverts through the admin, and reading it needs its own permission.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_ENFORCE_HISTORY_MODEL_PERMISSIONS = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"

# A session ends after SESSION_IDLE_MINUTES without a request, and after SESSION_COOKIE_AGE whatever happens.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 60 * 60)
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)

# Sign-in throttling (django-axes): LOGIN_FAILURE_LIMIT wrong passwords in a row lock the account, whatever the
# addresses they come from, for LOGIN_LOCKOUT_HOURS or until an administrator lifts it (0: only then).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
_LOCKOUT_HOURS = env.float("LOGIN_LOCKOUT_HOURS", default=1)
AXES_COOLOFF_TIME = timedelta(hours=_LOCKOUT_HOURS) if _LOCKOUT_HOURS > 0 else None
# By account only. Adding the address (axes.W006 asks for it) would let anyone with an account of their own reset
# another account's count: a successful sign-in clears every failure from its address (AXES_RESET_ON_SUCCESS).
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "portal.security.locked_out"
# Behind the TLS proxy every request comes from the proxy: the client's address is the last one it adds.
AXES_IPWARE_PROXY_COUNT = env.int(
    "PROXY_COUNT", default=1 if PRODUCTION and env.bool("BEHIND_TLS_PROXY", default=True) else 0
)
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Two-factor sign-in (django-otp): whoever has a TOTP device is asked for its code after the password; with
# REQUIRE_TWO_FACTOR (on by default in production) everyone without one is sent to enrol before anything else.
REQUIRE_TWO_FACTOR = env.bool("REQUIRE_TWO_FACTOR", default=PRODUCTION)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="CPT compliance")
# Administrators may remove someone's device (a lost phone) but never read its secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Content-Security-Policy (django-csp), the same in development, tests and production so a violation shows early:
# nothing inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Browser features the portal never uses, refused for it and anything it could embed (portal.security).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # The load balancer asks each app server directly over plain HTTP; a redirect would read as "down".
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Imports (licensing.imports): the largest file the admin accepts; the import_data command has its own option.
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_MB", default=10) * 1_000_000
# Django's own cap on request bodies held in memory must let such a file through to the import page's check.
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_UPLOAD_BYTES + 1_000_000
FILE_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_UPLOAD_BYTES + 1_000_000

# The cache holds nothing that must last (a running job's progress, for its page; draft PDF previews already
# rendered, licensing.pdf): this process's memory by default; with several app servers or workers, one shared
# Redis (CACHE_URL=redis://host:6379/1) so every process sees the same progress.
CACHE_URL = env.str("CACHE_URL", default="")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// or rediss:// URL, not {CACHE_URL.split(':')[0]}:...")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Jobs (licensing.jobs, portal/celery.py). With CELERY_BROKER_URL set (redis://127.0.0.1:6379/0), jobs are
# queued for `celery -A portal worker`; unset, each runs in the web process right after its request commits,
# so `make run` needs nothing else. The Job row is the record of a job, so Celery keeps no results.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
JOBS_IN_PROCESS = not CELERY_BROKER_URL
# Nothing calls .delay() directly (licensing.jobs decides); should something, without a broker it runs here
# and now instead of silently waiting on Celery's default amqp://localhost.
CELERY_TASK_ALWAYS_EAGER = JOBS_IN_PROCESS
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# A job is acknowledged when it ends, so a worker that dies mid-job leaves it to the next worker (which finds
# the Job row and neither repeats nor doubles its writes); one job at a time per worker process.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged job to another worker after this long: longer than the longest job.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# `celery -A portal beat` (one, anywhere) sends the reminders every day; the cron or systemd route
# (`manage.py send_reminders`, docs/reminders.md) does the same without Celery. Run one of the two.
CELERY_BEAT_SCHEDULE = {
    "send-reminders": {
        "task": "licensing.tasks.send_reminders",
        "schedule": crontab(hour=env.int("REMINDERS_HOUR", default=7), minute=env.int("REMINDERS_MINUTE", default=0)),
    },
    # Each night, the result files of jobs finished more than JOB_FILES_RETENTION_DAYS ago are deleted (the
    # cron route: `manage.py remove_old_job_files`, docs/deploy.md).
    "remove-old-job-files": {
        "task": "licensing.tasks.remove_old_job_files",
        "schedule": crontab(hour=3, minute=30),
    },
}
# Days a finished job's result file (a ZIP, a report) stays downloadable before the clean-up deletes it.
JOB_FILES_RETENTION_DAYS = env.int("JOB_FILES_RETENTION_DAYS", default=30)
if JOB_FILES_RETENTION_DAYS < 1:
    raise ImproperlyConfigured(
        f"JOB_FILES_RETENTION_DAYS is {JOB_FILES_RETENTION_DAYS}: give the days to keep job files, 1 or more."
    )
# A counted user count below this share of the User Proxy Model's estimate is flagged as implausible
# (licensing.counting.plausibility): on the count, on the dashboard, and in the filing's checks until acknowledged.
try:
    PLAUSIBILITY_THRESHOLD = Decimal(env.str("PLAUSIBILITY_THRESHOLD", default="0.5"))
except InvalidOperation:
    PLAUSIBILITY_THRESHOLD = Decimal("NaN")
if not Decimal("0") < PLAUSIBILITY_THRESHOLD <= Decimal("1"):
    raise ImproperlyConfigured(
        f"PLAUSIBILITY_THRESHOLD is {PLAUSIBILITY_THRESHOLD}: give the share of the proxy estimate below which a "
        "count is flagged, above 0 and at most 1 (0.5 flags counts under half of it)."
    )
# The largest evidence file (licensing.evidence) an upload may be, in megabytes.
EVIDENCE_MAX_UPLOAD_MB = env.int("EVIDENCE_MAX_UPLOAD_MB", default=20)
if EVIDENCE_MAX_UPLOAD_MB < 1:
    raise ImproperlyConfigured(
        f"EVIDENCE_MAX_UPLOAD_MB is {EVIDENCE_MAX_UPLOAD_MB}: give the largest file in MB, 1 or more."
    )
# Years a roster's people are kept: an administrator purges the people of older rosters (manage.py
# purge_roster_people, or the roster list's action); the counts, totals and file SHA-256s stay.
ROSTER_RETENTION_YEARS = env.int("ROSTER_RETENTION_YEARS", default=7)
if ROSTER_RETENTION_YEARS < 1:
    raise ImproperlyConfigured(
        f"ROSTER_RETENTION_YEARS is {ROSTER_RETENTION_YEARS}: give the years to keep rosters' people, 1 or more."
    )
# Imports of at least this many rows run as jobs: the upload and the confirm return at once with the job's page.
IMPORT_JOB_MIN_ROWS = env.int("IMPORT_JOB_MIN_ROWS", default=2000)
