"""Rate limits (429) for the endpoints worth guessing at or expensive to call: the login forms and the reward.

Rates are REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (FLAWMAP_THROTTLE_* in backend/config/settings/api.py); the
counts live in Django's cache, so the web processes share them only when FLAWMAP_CACHE_URL names a shared cache
(Redis). The client is REMOTE_ADDR, or the address FLAWMAP_NUM_PROXIES proxies in front of us put in
X-Forwarded-For; never a header the client itself may set.
"""

from functools import wraps
from math import ceil

from django.http import HttpResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle


class _CurrentRates:
    # DRF binds SimpleRateThrottle.THROTTLE_RATES to the settings once, at import: reading them per request lets
    # changed settings (an override, a reload) apply.
    @property
    def THROTTLE_RATES(self) -> dict:  # noqa: N802 (the attribute DRF's throttles read)
        return api_settings.DEFAULT_THROTTLE_RATES


class ScopedThrottle(_CurrentRates, ScopedRateThrottle):
    """Per user (per client address when anonymous), at the rate of the view's `throttle_scope`."""


class LoginThrottle(_CurrentRates, SimpleRateThrottle):
    """Login attempts per client address, whoever they claim to be."""

    scope = "login"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def login_throttled(view):
    """`view` (a login form: DRF's, the dashboard's, the admin's) with at most the "login" rate of attempts
    (POSTs) per client address, counted together across the forms; showing the form is not counted."""

    @wraps(view)
    def throttled(request, *args, **kwargs):
        if request.method == "POST":
            throttle = LoginThrottle()
            if not throttle.allow_request(request, None):
                wait = ceil(throttle.wait() or 1)
                return HttpResponse(f"Too many login attempts from this address; try again in {wait} s.\n",
                                    status=429, content_type="text/plain", headers={"Retry-After": str(wait)})
        return view(request, *args, **kwargs)

    return throttled
