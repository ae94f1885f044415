"""Simulated labellers for the demo and benchmarks: known ground-truth masks are submitted as annotations
through Label Studio's own API, so they travel the same road (webhook or reconcile → intake) as a human's."""

from __future__ import annotations

import numpy as np

from annotator.client import ls_client
from annotator.converter import labels_to_results
from annotator.models import Campaign, CampaignTask, SyncedAnnotation


def submit_ground_truth(*, campaign: Campaign, masks: dict[int, np.ndarray], lead_time: float = 60.0) -> int:
    """Annotate every task of the campaign whose image has a mask in `masks` (image id -> bool HxW) and no
    annotation yet. Returns how many annotations were created in Label Studio."""
    ls = ls_client()
    done = set(SyncedAnnotation.objects.filter(campaign=campaign).values_list("ls_task_id", flat=True))
    created = 0
    for task in CampaignTask.objects.filter(campaign=campaign, image_id__in=list(masks)).select_related("image"):
        if task.ls_task_id in done:
            continue
        mask = np.asarray(masks[task.image_id], bool)
        result = labels_to_results(mask=mask if mask.any() else None, regions=[], width=task.image.width,
                                   height=task.image.height, no_artifacts=not mask.any())
        ls.annotation_create(task_id=task.ls_task_id, result=result, lead_time=lead_time)
        created += 1
    return created
