from backend.config.settings.env import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every endpoint needs a login; role checks (viewer / annotator / reviewer / admin) come on top.
    "DEFAULT_PERMISSION_CLASSES": ["backend.core.permissions.HasRole"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "backend.core.pagination.DefaultPagination",
    "PAGE_SIZE": env.int("FLAWMAP_PAGE_SIZE", default=50),
    # drf-spectacular, plus the 4xx every operation can answer (backend/core/schema.py)
    "DEFAULT_SCHEMA_CLASS": "backend.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "backend.core.exceptions.api_exception_handler",
    # Rates (N/s, N/min, N/hour, N/day) of the throttled endpoints (backend/core/throttles.py): 429 past them.
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("FLAWMAP_THROTTLE_LOGIN", default="") or "10/min",
        "reward": env.str("FLAWMAP_THROTTLE_REWARD", default="") or "60/min",
    },
    # Proxies in front of the web app that append the client's address to X-Forwarded-For; 0 = none, the
    # throttles use REMOTE_ADDR (a client-set X-Forwarded-For would otherwise dodge them).
    "NUM_PROXIES": env.int("FLAWMAP_NUM_PROXIES", default=0),
}

# Throttle counts live here: a shared cache (redis://redis:6379/1) makes gunicorn's workers count together;
# the in-process default gives each worker its own count.
CACHES = {"default": env.cache_url_config(env.str("FLAWMAP_CACHE_URL", default="") or "locmemcache://")}

SPECTACULAR_SETTINGS = {
    "TITLE": "Flawmap API",
    "DESCRIPTION": "Images, masks and labels of perceptual artifacts in generated images.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs pages (/api/schema/, /api/docs/) map every endpoint: like the API, they need a role.
    "SERVE_PERMISSIONS": ["backend.core.permissions.HasRole"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar, not a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
