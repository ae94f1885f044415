"""The checks every Label Studio webhook receiver makes (the Django view and the ASGI ingress), in one place."""

from __future__ import annotations

import hmac
import json


class WebhookRejected(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def webhook_secret_check(*, given_secret: bytes, expected_secret: bytes) -> None:
    """First, before a byte of the body is read: a caller without the secret costs nothing."""
    if not hmac.compare_digest(given_secret, expected_secret):
        raise WebhookRejected(403, "missing or wrong webhook secret")


def webhook_body_check(*, body: bytes, max_bytes: int) -> dict:
    """Then the body of a delivery whose secret passed: the size (413), a JSON object with an action (400);
    returns the payload, or raises WebhookRejected with the status and the reason."""
    if len(body) > max_bytes:
        raise WebhookRejected(413, f"body larger than {max_bytes} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected(400, "body is not JSON") from None
    if not isinstance(payload, dict) or not payload.get("action"):
        raise WebhookRejected(400, "payload needs an action")
    return payload
