"""Writes for the quality tools: request a fix job, run it (segment, inpaint, store the fixed image)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from PIL import Image

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.core.blobs import atomic_with_blobs
from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.images.selectors import image_pixels
from backend.images.services import IngestItem, image_ingest
from backend.jobs.models import Job
from backend.jobs.services import job_create
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.predictors import segmenter_predictor
from backend.mlmodels.selectors import production_model_for
from backend.quality.models import FixJob

logger = logging.getLogger(__name__)


@dataclass
class FixOutcome:
    image: GeneratedImage | None  # None: the segmenter found nothing to fix
    par_before: float
    par_after: float


@transaction.atomic
def fix_job_request(*, image: GeneratedImage, mode: str = "zoom", backend: str | None = None,
                    dilate: int | None = None, requested_by=None) -> FixJob:
    """Queue a fix of this image with the production segmenter. Refused (ApplicationError) when there is no
    production segmenter or the inpainting backend can't run here, before any job exists."""
    from ml.rectify import MODES, InpainterUnavailable, inpainter_check  # torch loads here, not at web start-up

    if mode not in MODES:
        raise ApplicationError(f"mode must be one of {', '.join(MODES)}")
    segmenter = production_model_for(kind=ModelVersion.Kind.SEGMENTER, image=image)  # its scope's specialist first
    if segmenter is None:
        raise ApplicationError(
            "no production segmenter to find the artifacts; register and promote one first "
            "(python manage.py model_register --checkpoint best.pth --name NAME --promote)"
        )
    try:
        backend = inpainter_check(backend or settings.FLAWMAP_FIX_BACKEND,
                                  model_path=settings.FLAWMAP_DIFFUSERS_INPAINT_MODEL)
    except InpainterUnavailable as exc:
        raise ApplicationError(str(exc)) from exc
    dilate = settings.FLAWMAP_FIX_DILATE if dilate is None else dilate
    # The fix row needs its job and the job's params name the fix: create the job with a placeholder id
    # inside this transaction (the worker only sees it after commit).
    job, _ = job_create(kind="fix_image", created_by=requested_by, params={})
    fix = FixJob.objects.create(job=job, image=image, model_version=segmenter, mode=mode, backend=backend,
                                dilate=dilate, requested_by=requested_by)
    Job.objects.filter(pk=job.pk).update(params={"fix_job_id": fix.pk, "image_id": image.pk})
    return fix


def image_fix(*, image: GeneratedImage, model_version: ModelVersion, mode: str, backend: str,
              dilate: int) -> FixOutcome:
    """Segment, fix and re-segment one stored image; store the fixed one (PNG) as a new image of the same
    generator and task, linked through `fixed_from`, with the segmenter's mask of it as a model annotation.
    Fixing the same image the same way again gives the same bytes, hence the same (existing) image."""
    from ml.rectify import inpainter_create, rectify_images  # torch loads here, on a worker, not in the web process

    array = image_pixels(image)
    inpainter = inpainter_create(backend, working_size=settings.FLAWMAP_FIX_WORKING_SIZE,
                                 model_path=settings.FLAWMAP_DIFFUSERS_INPAINT_MODEL,
                                 device=settings.FLAWMAP_ML_DEVICE, prompt=image.prompt)
    [result] = rectify_images(segmenter_predictor(model_version), [array], inpainter, mode=mode, dilate_px=dilate)
    if result.fix.components == 0:
        return FixOutcome(None, result.par_before, result.par_after)
    buf = io.BytesIO()
    Image.fromarray(result.fixed).save(buf, format="PNG", compress_level=6)
    provenance = {
        "source_image": image.pk, "source_sha256": image.blob_id, "model_version": str(model_version),
        "backend": inpainter.name, "mode": mode, "dilate": dilate, "components": result.fix.components,
        "par_before": result.par_before, "par_after": result.par_after,
    }
    item = IngestItem(name=f"fixed-{image.pk}-{mode}.png", data=buf.getvalue(), prompt=image.prompt,
                      seed=image.seed, domain=image.domain, source_uri=image.source_uri, metadata={"fix": provenance})
    with atomic_with_blobs():
        outcome = image_ingest(item=item, generator=image.generator, task=image.task)
        fixed = outcome.image
        if outcome.created:
            fixed.fixed_from = image
            fixed.fix_par_before, fixed.fix_par_after = result.par_before, result.par_after
            fixed.save(update_fields=["fixed_from", "fix_par_before", "fix_par_after"])
            annotation_create(image=fixed, model_version=model_version, mask=mask_array_to_canonical(result.mask_after))
            fixed.refresh_from_db()
    return FixOutcome(fixed, result.par_before, result.par_after)


def fix_job_run(*, fix_job_id: int, progress=None) -> FixJob:
    """Do the fix of a fix job (called by its Job, which guards against running twice). Stores the result on
    the fix; a failure is stored as the fix's error and re-raised so the Job ends failed with the traceback
    (not retried: it would fail the same way again; only a lost worker's attempt is retried)."""
    fix = FixJob.objects.select_related("image__blob", "image__generator", "image__task",
                                        "model_version__checkpoint").get(pk=fix_job_id)
    if progress:
        progress(0.0, f"fixing image {fix.image_id} ({fix.mode}, {fix.backend})")
    try:
        outcome = image_fix(image=fix.image, model_version=fix.model_version, mode=fix.mode, backend=fix.backend,
                            dilate=fix.dilate)
    except Exception as exc:
        logger.exception("fix job %s failed", fix.pk)
        fix.error = f"{type(exc).__name__}: {exc}"[:2000]
        fix.save(update_fields=["error"])
        raise
    fix.result, fix.par_before, fix.par_after, fix.error = outcome.image, outcome.par_before, outcome.par_after, ""
    fix.save(update_fields=["result", "par_before", "par_after", "error"])
    return fix
