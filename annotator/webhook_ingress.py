"""The fast front door for Label Studio webhooks: a plain ASGI app, no Django in the request path.

Label Studio posts each webhook once with a 1 s timeout and never retries, so the receiver must answer
quickly even when many annotators submit at once. The Django endpoint (/api/labelstudio/webhook/) pays for
the framework, a database transaction and a broker publish on every post; this app only checks what it can
check cheaply (the shared secret, the body size, that the body is a JSON object with an action) and appends
the raw body to a Redis stream. `python manage.py webhook_drain` then records each stream entry as a
WebhookEvent and queues its conversion, exactly as the Django endpoint does (annotator/services/stream.py).

Run it next to the web app and point the campaigns' webhooks at it (LABEL_STUDIO_WEBHOOK_URL):

    uvicorn annotator.webhook_ingress:app --host 0.0.0.0 --port 8001 --loop uvloop --http httptools

Answers: 200 {"queued": "<stream id>"}, 403 wrong secret, 413 body too large, 400 not a JSON object with an
action, 405 not a POST, 404 another path, 503 Redis unreachable (the reconcile job recovers what was lost).
"""

import json
import logging
import os

import redis.asyncio as aioredis
from django.conf import settings

from annotator.webhook_check import WebhookRejected, webhook_body_check, webhook_secret_check
from backend.core.secrets import secrets_refuse_weak

logger = logging.getLogger(__name__)

PATH = "/api/labelstudio/webhook/"


def _json_response(status: int, body: dict) -> tuple[int, bytes]:
    return status, json.dumps(body).encode()


class WebhookIngress:
    def __init__(self, *, redis_url: str, stream: str, secret: str, header: str, max_bytes: int, maxlen: int):
        if not redis_url:
            raise RuntimeError("the webhook ingress needs FLAWMAP_WEBHOOK_STREAM_URL or CELERY_BROKER_URL"
                               " (a Redis URL)")
        self.redis_url = redis_url
        self.stream = stream
        self.secret = secret.encode()
        self.header = header.lower().encode()
        self.max_bytes = max_bytes
        self.maxlen = maxlen
        self._redis = None

    def redis(self):
        # Created on first use, inside the server's event loop (one pool per worker process).
        if self._redis is None:
            self._redis = aioredis.from_url(self.redis_url)
        return self._redis

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, body = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._redis is not None:
                    await self._redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope, receive) -> tuple[int, bytes]:
        if scope["path"] != PATH:
            return _json_response(404, {"detail": f"only {PATH} is served here"})
        if scope["method"] != "POST":
            return _json_response(405, {"detail": "webhooks are POSTed"})
        headers = dict(scope["headers"])
        try:
            webhook_secret_check(given_secret=headers.get(self.header, b""), expected_secret=self.secret)
        except WebhookRejected as exc:
            return _json_response(exc.status, {"detail": exc.detail})
        declared = headers.get(b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            return _json_response(413, {"detail": f"body larger than {self.max_bytes} bytes"})
        body = await self._read_body(receive)
        if body is None:
            return _json_response(413, {"detail": f"body larger than {self.max_bytes} bytes"})
        try:
            webhook_body_check(body=body, max_bytes=self.max_bytes)
        except WebhookRejected as exc:
            return _json_response(exc.status, {"detail": exc.detail})
        try:
            # Trimmed to about maxlen entries (whole nodes at a time, hence approximate: cheap) so that a stalled
            # drain cannot fill Redis; reconcile recovers what was trimmed before it was recorded.
            entry_id = await self.redis().xadd(self.stream, {b"payload": body}, maxlen=self.maxlen, approximate=True)
        except (aioredis.RedisError, OSError) as exc:
            logger.error("webhook not queued (%s); the reconcile job will pick the annotation up", exc)
            return _json_response(503, {"detail": "webhook queue unavailable"})
        return _json_response(200, {"queued": entry_id.decode()})

    async def _read_body(self, receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


# Django's settings, read the normal way (no app is loaded: nothing else of Django runs in the request path).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
# uvicorn runs no system checks: refuse a missing or placeholder secret before serving (backend/core/secrets.py).
secrets_refuse_weak(process="the webhook ingress")
app = WebhookIngress(
    redis_url=settings.FLAWMAP_WEBHOOK_STREAM_URL,
    stream=settings.FLAWMAP_WEBHOOK_STREAM,
    secret=settings.LABEL_STUDIO_WEBHOOK_SECRET,
    header=settings.LABEL_STUDIO_WEBHOOK_HEADER,
    max_bytes=settings.FLAWMAP_WEBHOOK_MAX_BYTES,
    maxlen=settings.FLAWMAP_WEBHOOK_STREAM_MAXLEN,
)
