"""The web app's door to the inference service: no model runs in the web process, and torch never loads there.

A request that needs a model (POST /api/reward) is sent as a Celery task to the FLAWMAP_INFERENCE_QUEUE queue and
the web worker waits for the reply, at most FLAWMAP_INFERENCE_TIMEOUT_SECONDS; no reply by then is a 503 saying so
(the task expires unread, so a late worker does not score a batch nobody waits for). The worker serving that queue
runs a threads pool (`make inference-worker`): concurrent requests share one process and its models, and a
batcher there joins the requests arriving within a few milliseconds into one model batch
(backend/mlmodels/batching.py).

Why a Celery request/reply rather than a separate ASGI model server: the deployment already shares exactly
PostgreSQL, Redis and object storage between hosts, and Celery on Redis is how web and GPU hosts talk. A
model server would be another service to address (a URL per host, its own health checks, auth between web and
model host, its own scaling story); here, scaling is starting another worker on the queue, a GPU host needs no
inbound port, and Redis's pub/sub carries the reply without polling. The price is a Redis round trip and
base64 of the image bytes per request, small beside a model batch (bench/reward.py measures both paths). Its
own queue, not `gpu`: the gpu worker runs one training job at a time for hours (prefork, prefetch 1), and a
reward request queued behind one would only time out.

Without a broker (the embedded demo) the task runs in-process, as every task does there.
"""

from __future__ import annotations

import base64
import logging

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from kombu.exceptions import KombuError

from backend.core.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)


class InferenceUnavailable(ServiceUnavailable):
    """No inference worker answered in time, or the queue is down: 503 with what to do."""


def _call(task, *, kwargs: dict, what: str):
    """Send `task` to the inference queue and wait for its reply."""
    timeout = settings.FLAWMAP_INFERENCE_TIMEOUT_SECONDS
    queue = settings.FLAWMAP_INFERENCE_QUEUE
    try:
        result = task.apply_async(kwargs=kwargs, queue=queue, expires=timeout)
    except (KombuError, OSError) as exc:
        logger.warning("%s: could not reach the inference queue: %s", what, exc)
        raise InferenceUnavailable(f"{what}: the inference queue is unavailable ({exc.__class__.__name__}); "
                                   "try again later") from exc
    try:
        # Safe from gunicorn's threads: each thread has its own result backend and pub/sub connection (Celery keeps
        # the backend thread-local unless told it is thread-safe), so concurrent waits never share a socket.
        return result.get(timeout=timeout)
    except CeleryTimeout:
        raise InferenceUnavailable(
            f"{what}: no inference worker answered within {timeout:g} s (FLAWMAP_INFERENCE_TIMEOUT_SECONDS); "
            f"a worker must serve the `{queue}` queue (`make inference-worker`); try again later",
            extra={"queue": queue, "timeout_seconds": timeout}) from None
    except (KombuError, OSError) as exc:
        raise InferenceUnavailable(f"{what}: lost the inference queue while waiting ({exc.__class__.__name__}); "
                                   "try again later") from exc
    except Exception as exc:  # the worker's error, re-raised here: the models failed on this batch
        logger.exception("%s failed on the inference worker", what)
        raise InferenceUnavailable(f"{what}: the inference worker failed ({exc.__class__.__name__}: {exc})") from exc
    finally:
        result.forget()  # the reply was read (or never will be): do not keep it in Redis for a day


def reward_scores_infer(*, segmenter_id: int, vlm_id: int, images: list[bytes]) -> list[dict]:
    """Per image, in order, from the inference worker: par, artifact_classes, regions, vlm_malformed."""
    from backend.mlmodels.tasks import reward_scores

    return _call(reward_scores, what="reward", kwargs={
        "segmenter_id": segmenter_id, "vlm_id": vlm_id,
        "images": [base64.b64encode(data).decode("ascii") for data in images]})
