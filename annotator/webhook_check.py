"""The checks every Label Studio webhook receiver makes (the Django view and the ASGI ingress), in one place."""

from __future__ import annotations

import hmac
import json
import math


class _NotJsonNumber(ValueError):
    pass


def _no_constant(name: str):
    # Python reads NaN and Infinity; JSON (and PostgreSQL's jsonb, where the payload is stored) has neither.
    raise _NotJsonNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise _NotJsonNumber(f"{text[:30]} is out of range")
    return value


class WebhookRejected(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def webhook_secret_check(*, given_secret: bytes, expected_secret: bytes) -> None:
    """First, before a byte of the body is read: a caller without the secret costs nothing."""
    # No configured secret is never a match (an empty header would equal it); with DEBUG off the process
    # refuses to start without one anyway (backend/core/secrets.py).
    if not expected_secret or not hmac.compare_digest(given_secret, expected_secret):
        raise WebhookRejected(403, "missing or wrong webhook secret")


def webhook_body_check(*, body: bytes, max_bytes: int) -> dict:
    """Then the body of a delivery whose secret passed: the size (413), a JSON object with an action (400);
    returns the payload, or raises WebhookRejected with the status and the reason."""
    if len(body) > max_bytes:
        raise WebhookRejected(413, f"body larger than {max_bytes} bytes")
    try:
        payload = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotJsonNumber as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    except RecursionError:
        raise WebhookRejected(400, "body is not JSON: nested too deep") from None
    if not isinstance(payload, dict) or not payload.get("action"):
        raise WebhookRejected(400, "payload needs an action")
    return payload
