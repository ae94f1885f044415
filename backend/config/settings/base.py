from backend.config.settings.env import VAR_DIR, dev_secret, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# With DEBUG off a missing, short or placeholder key stops every process (backend/core/secrets.py); the fixed
# fallback only serves DEBUG runs on a machine without var/dev-secrets.env (`make dev-secrets`).
SECRET_KEY = dev_secret("DJANGO_SECRET_KEY") or ("insecure-debug-only-key" if DEBUG else "")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Absolute base URL other systems (Label Studio) use to reach Flawmap.
FLAWMAP_PUBLIC_URL = env.str("FLAWMAP_PUBLIC_URL", default="http://127.0.0.1:8000")

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
    "backend.core",
    "backend.taxonomy",
    "backend.images",
    "backend.mlmodels",
    "backend.jobs",
    "backend.annotations",
    "backend.analytics",
    "backend.quality",
    "datasets",
    "annotator",
    "learning",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads a body: a body over its route's limit is a 413 unread (backend/core/request_limits.py).
    "backend.core.request_limits.RequestBodyLimitMiddleware",
    # Static files (the API docs' Swagger UI) from the same process, under runserver and gunicorn alike.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.config.urls"
WSGI_APPLICATION = "backend.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Serve straight from the apps' static folders, so nothing needs `collectstatic` before the first request.
WHITENOISE_USE_FINDERS = True
try:  # WhiteNoise also serves STATIC_ROOT and warns on every start while it does not exist (a fresh clone)
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only file system: collectstatic's output is not used then
    pass
FLAWMAP_VAR_DIR = VAR_DIR
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/api-auth/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("FLAWMAP_LOG_LEVEL", default="WARNING")},
}
