"""HTTPS and the browser-side protections `manage.py check --deploy` asks for, switched on by the deployment.

Off by default: `make demo` serves http://127.0.0.1, where secure-only cookies would make logging in impossible.
Behind TLS set FLAWMAP_HTTPS=true (and, behind a TLS-terminating proxy, FLAWMAP_SECURE_PROXY_SSL_HEADER).
"""

from backend.config.settings.env import env

FLAWMAP_HTTPS = env.bool("FLAWMAP_HTTPS", default=False)
# Session and CSRF cookies travel over HTTPS only, and plain-HTTP requests are redirected to HTTPS.
SESSION_COOKIE_SECURE = FLAWMAP_HTTPS
CSRF_COOKIE_SECURE = FLAWMAP_HTTPS
SECURE_SSL_REDIRECT = FLAWMAP_HTTPS
# Browsers remember to use HTTPS only (a year by default); preload lets the domain be submitted to the browsers'
# built-in list. Both apply to subdomains unless switched off.
SECURE_HSTS_SECONDS = env.int("FLAWMAP_HSTS_SECONDS", default=365 * 24 * 3600) if FLAWMAP_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("FLAWMAP_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("FLAWMAP_HSTS_PRELOAD", default=True)
# "HEADER,value" the TLS-terminating proxy sets on HTTPS requests, e.g. HTTP_X_FORWARDED_PROTO,https. Only set it
# behind a proxy that always sets or strips that header: otherwise a client could claim HTTPS itself.
_proxy_header = env.str("FLAWMAP_SECURE_PROXY_SSL_HEADER", default="")
if _proxy_header:
    _name, _sep, _value = _proxy_header.partition(",")
    if not (_name.strip() and _sep and _value.strip()):
        raise ValueError(f"FLAWMAP_SECURE_PROXY_SSL_HEADER must be HEADER,value (e.g. HTTP_X_FORWARDED_PROTO,https),"
                         f" got {_proxy_header!r}")
    SECURE_PROXY_SSL_HEADER = (_name.strip(), _value.strip())
