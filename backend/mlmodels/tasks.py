"""Celery entry points of the model registry: the inference worker's request/reply tasks
(backend/mlmodels/inference.py sends them and waits for the answer)."""

import base64

from celery import shared_task


# Acknowledged on receipt: a request whose worker dies is not redone, its caller has had its 503 by then.
@shared_task(name="mlmodels.reward_scores", acks_late=False, ignore_result=False)
def reward_scores(segmenter_id: int, vlm_id: int, images: list[str]) -> list[dict]:
    from backend.mlmodels.reward_scoring import reward_scores as scores  # torch loads in the worker, on first use

    return scores(segmenter_id=segmenter_id, vlm_id=vlm_id, images=[base64.b64decode(i) for i in images])
