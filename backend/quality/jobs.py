"""Quality jobs: fix an image's artifacts. Thin: the fix job's id in params, one service."""

from __future__ import annotations

from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler
from backend.quality.services import fix_job_run


@job_handler("fix_image", queue="gpu")  # the segmenter twice and an inpainter
def fix_image(ctx: JobContext) -> dict:
    fix = fix_job_run(fix_job_id=ctx.params["fix_job_id"], progress=ctx.progress)
    ctx.log(f"image {fix.image_id}: PAR {fix.par_before:.4f} -> {fix.par_after:.4f}, "
            + (f"fixed image {fix.result_id}" if fix.result_id else "nothing to fix"))
    return {"fix_job": fix.pk, "image": fix.image_id, "result": fix.result_id, "par_before": fix.par_before,
            "par_after": fix.par_after}
