"""The browser's job: make the gallery thumbnails of new images and of images with a new pass. Thin: ids in
params, one service."""

from __future__ import annotations

from backend.jobs.context import JobContext
from backend.jobs.registry import job_handler
from dashboard.browse.thumbnails import thumbnails_ensure


@job_handler("browse_thumbnails")
def browse_thumbnails(ctx: JobContext) -> dict:
    made = thumbnails_ensure(image_ids=ctx.params["image_ids"])
    return {"images": len(ctx.params["image_ids"]), "made": made}
