"""The image page: the picture with a toggle per pass (history included), each pass's mask as a tinted overlay and
its boxes, the regions, fixes, dataset splits and links out; and the reviewers' "mark passes reviewed" action,
through the same service and permission as the API's `status: reviewed`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View

from backend.annotations.models import Annotation
from backend.annotations.services import annotations_mark_reviewed
from backend.core.blobs import blob_read
from backend.core.exceptions import ApplicationError, RoleRefused
from backend.core.roles import Role, user_role
from backend.images.models import ConditionalInput
from dashboard.browse.overlays import TINTS, box_style, overlay_png, tint_hex
from dashboard.browse.page_common import (
    BadParameter,
    bad_request,
    image_file_url,
    image_page_url,
    int_param,
    overlay_url,
    page,
)
from dashboard.browse.selectors_image import image_exists, image_page_get, pass_mask_get, passes_for_review
from dashboard.views import dashboard_page


def _author(annotation: Annotation) -> str:
    if annotation.user_id:
        return annotation.user.username
    return f"{annotation.model_version.name}@{annotation.model_version.version}"


def _pass_view(annotation: Annotation, tint: int, image) -> dict:
    masks = list(annotation.masks.all())
    mask = masks[0] if masks else None
    par = mask.par if mask else (0.0 if annotation.no_artifacts else None)
    return {
        "id": annotation.pk, "source": annotation.source, "author": _author(annotation),
        "status": annotation.status, "is_current": annotation.is_current, "deleted_at": annotation.deleted_at,
        "previous_id": annotation.previous_id, "lead_time": annotation.lead_time,
        "submitted_at": annotation.submitted_at, "prelabel": annotation.get_prelabel_display() if annotation.prelabel
        else "", "score": annotation.score, "no_artifacts": annotation.no_artifacts, "par": par,
        "overlay_url": overlay_url(annotation.pk, tint) if mask else None, "tint": tint_hex(tint),
        "regions": [
            {"code": r.artifact_class.code, "slug": r.artifact_class.slug, "name": r.artifact_class.name,
             "definition": r.artifact_class.definition, "caption": r.caption,
             "bbox": [r.x1, r.y1, r.x2, r.y2], "style": box_style((r.x1, r.y1, r.x2, r.y2), width=image.width,
                                                                  height=image.height)}
            for r in annotation.regions.all()
        ],
        "reviewable": annotation.is_current and annotation.user_id is not None
        and annotation.status == Annotation.Status.SUBMITTED,
    }


def _task_link(task) -> str | None:
    if not settings.LABEL_STUDIO_URL or task.campaign.ls_project_id is None:
        return None
    return f"{settings.LABEL_STUDIO_URL}/projects/{task.campaign.ls_project_id}/data?task={task.ls_task_id}"


@dashboard_page
def image_page(request, image_id: int):
    try:
        reviewed = int_param(request.GET, "reviewed", default=0, minimum=0)
    except BadParameter as error:
        return bad_request(request, error)
    found = image_page_get(image_id=image_id)
    if found is None:
        raise Http404(f"no image {image_id}")
    image = found.image
    passes = [_pass_view(a, i, image) for i, a in enumerate(found.passes)]
    inputs = [{"role": c.get_role_display(), "name": c.original_name,
               "is_text": c.role == ConditionalInput.Role.PROMPT_TEXT,
               "url": reverse("image-conditional-input-file", kwargs={"image_id": image.pk, "input_id": c.pk})}
              for c in image.conditional_inputs.all()]
    return page(
        request, "image.html", image=image, image_url=image_file_url(image.pk), passes=passes,
        inputs=inputs,
        fixes=[{"image": fix, "url": image_file_url(fix.pk)} for fix in image.fixes.all()],
        fixed_from_url=image_file_url(image.fixed_from_id) if image.fixed_from_id else None,
        items=found.items, tasks=[{"task": t, "link": _task_link(t)} for t in found.tasks],
        previous_id=found.previous_id, next_id=found.next_id,
        can_review=(user_role(request.user) or 0) >= Role.REVIEWER,
        reviewable=[p for p in passes if p["reviewable"]], reviewed=reviewed,
    )


@dashboard_page
def pass_overlay(request, annotation_id: int):
    """A pass's mask as a tinted transparent PNG. The pass never changes, so its mask's hash and the tint make an
    ETag the browser revalidates against, and it may keep the picture for good."""
    try:
        tint = int_param(request.GET, "tint", default=0, minimum=0, maximum=len(TINTS) - 1)
    except BadParameter as error:
        return bad_request(request, error)
    mask = pass_mask_get(annotation_id=annotation_id)
    if mask is None:
        raise Http404(f"annotation {annotation_id} has no mask")
    etag = f'"{mask.blob_id}-{tint}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(overlay_png(blob_read(mask.blob), tint=tint), content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


def _chosen_ids(request) -> list[int]:
    raw = request.POST.getlist("annotation")
    if not raw:
        raise BadParameter("annotation", "choose at least one pass to mark reviewed")
    try:
        return sorted({int(v) for v in raw})
    except ValueError:
        raise BadParameter("annotation", f"{', '.join(raw)} is not a list of pass ids") from None


@method_decorator(dashboard_page, name="dispatch")
class MarkReviewedView(View):
    """POST annotation=<id> (one or more): reviewers and admins only; anyone else gets 403 before the form is read."""

    def post(self, request, image_id: int):
        if (user_role(request.user) or 0) < Role.REVIEWER:
            raise PermissionDenied("only a reviewer or an admin may mark a pass reviewed")
        if not image_exists(image_id=image_id):
            raise Http404(f"no image {image_id}")
        try:
            ids = _chosen_ids(request)
            chosen = passes_for_review(image_id=image_id, annotation_ids=ids)
            unknown = sorted(set(ids) - {a.pk for a in chosen})
            if unknown:
                raise BadParameter("annotation", f"{unknown} are not passes of image {image_id}")
            annotations_mark_reviewed(annotations=chosen, requested_by=request.user)
        except BadParameter as error:
            return bad_request(request, error, back=image_page_url(image_id))
        except RoleRefused as error:
            raise PermissionDenied(error.message) from error
        except ApplicationError as error:
            return bad_request(request, BadParameter("annotation", error.message), back=image_page_url(image_id))
        return redirect(image_page_url(image_id) + f"?reviewed={len(chosen)}")
