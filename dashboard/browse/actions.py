"""The gallery's actions: create a dataset from the current filter, push the selection (or the first N images) to a
campaign, for labelling or back for review. Each calls the service its API endpoint calls, after the same
permission check (the endpoint's permission class and write role), so the browser can do nothing the API would
refuse. Bad input is a 400 page saying what is wrong; nothing is half-stored."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View

from annotator.apis import CampaignPushApi
from annotator.selectors import campaign_get
from annotator.services.push import campaign_push_enqueue
from backend.core.exceptions import ApplicationError, ServiceUnavailable
from dashboard.browse.filters import GalleryFilter, gallery_filter
from dashboard.browse.gallery import api_allows, bad_filters
from dashboard.browse.selectors_gallery import gallery_image_ids, gallery_images, gallery_options, task_ids
from dashboard.views import PAGES, dashboard_page
from datasets.apis import DatasetListApi
from datasets.models import Dataset
from datasets.services import dataset_create

# Gallery filters a dataset's selection rules can hold (datasets.services.dataset_create); sort and size only
# order and cut the page. Any other filter would select images the dataset's next version would not.
DATASET_RULES = ("generator", "task", "created_after", "created_before", "labelled", "artifact_class")
NOT_SELECTING = ("sort", "size")
MAX_FIRST = 10_000  # the API's limit on a push's `unlabelled` count


def _refused(request):
    return render(request, "browse/refused.html", {"pages": PAGES, "page": "browse"}, status=403)


def _done(request, *, title: str, lines: list[str], links: list[tuple[str, str]]):
    return render(request, "browse/action_done.html",
                  {"pages": PAGES, "page": "browse", "title": title, "lines": lines, "links": links})


def _gallery_filter(request) -> GalleryFilter:
    """The gallery's filter as the form carried it (hidden field `filter`: the gallery's query string)."""
    return gallery_filter(QueryDict(request.POST.get("filter", "")), options=gallery_options(),
                          queryset=gallery_images())


def _active(filterset: GalleryFilter) -> dict:
    return {name: value for name, value in filterset.form.cleaned_data.items() if value not in (None, "", [], ())}


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def dataset_rules(filterset: GalleryFilter) -> dict:
    """dataset_create's keyword arguments for the filter; ApplicationError naming the filters it cannot hold."""
    active = _active(filterset)
    beyond = [name for name in active if name not in DATASET_RULES + NOT_SELECTING]
    if active.get("labelled") == "no":
        beyond.append("labelled=no")
    if beyond:
        raise ApplicationError(f"a dataset's selection rules cannot hold the filter(s) {', '.join(beyond)}; "
                               "remove them to create a dataset from the rest")
    return {
        "generators": [int(pk) for pk in active.get("generator", [])],
        "tasks": task_ids(slugs=active.get("task", [])),
        "created_after": _day_start(active["created_after"]) if "created_after" in active else None,
        # The filter's day is inclusive; the dataset's bound is exclusive.
        "created_before": _day_start(active["created_before"] + timedelta(days=1))
        if "created_before" in active else None,
        "label_status": Dataset.LabelStatus.LABELLED if active.get("labelled") == "yes" else Dataset.LabelStatus.ANY,
        "classes": [active["artifact_class"]] if "artifact_class" in active else [],
    }


@method_decorator(dashboard_page, name="dispatch")
class DatasetFromFilterView(View):
    """POST name (+ description, filter): a new dataset whose rules are the gallery's filter."""

    http_method_names = ["post"]

    def post(self, request):
        if not api_allows(request.user, DatasetListApi):
            return _refused(request)
        filterset = _gallery_filter(request)
        if not filterset.is_valid():
            return bad_filters(request, filterset.problems())
        try:
            dataset = dataset_create(name=request.POST.get("name", "").strip(),
                                     description=request.POST.get("description", ""), created_by=request.user,
                                     **dataset_rules(filterset))
        except ApplicationError as exc:
            return bad_filters(request, [("dataset", str(exc))])
        return _done(request, title=f"Dataset {dataset.name} created",
                     lines=["Its rules are the gallery's filter. Build a version to freeze its items."],
                     links=[(reverse("dashboard:datasets"), "Dataset versions"),
                            (f"{reverse('browse:gallery')}?{request.POST.get('filter', '')}", "Back to the gallery")])


def _image_ids(request, filterset: GalleryFilter) -> list[int]:
    """The ticked images, or the first N of the filtered gallery; ApplicationError when neither or both."""
    ticked, first = request.POST.getlist("image"), (request.POST.get("first") or "").strip()
    if bool(ticked) == bool(first):
        raise ApplicationError("tick images or give a number of images (first N), not both")
    if ticked:
        if not all(t.isdigit() for t in ticked):
            raise ApplicationError(f"image ids must be whole numbers, not {[t for t in ticked if not t.isdigit()]}")
        return [int(t) for t in ticked]
    if not first.isdigit() or not 1 <= int(first) <= MAX_FIRST:
        raise ApplicationError(f"first N must be a whole number from 1 to {MAX_FIRST}, not {first!r}")
    return gallery_image_ids(filterset, first=int(first))


@method_decorator(dashboard_page, name="dispatch")
class CampaignPushView(View):
    """POST campaign, image (repeated) or first, review (send back for review), filter: queue a push job."""

    http_method_names = ["post"]

    def post(self, request):
        if not api_allows(request.user, CampaignPushApi):
            return _refused(request)
        filterset = _gallery_filter(request)
        if not filterset.is_valid():
            return bad_filters(request, filterset.problems())
        raw = request.POST.get("campaign", "")
        campaign = campaign_get(campaign_id=int(raw)) if raw.isdigit() else None
        if campaign is None:
            return bad_filters(request, [("campaign", f"no campaign {raw!r}: choose one")])
        try:
            image_ids = _image_ids(request, filterset)
            if not image_ids:
                raise ApplicationError("the filter selects no image")
            starting = "human" if request.POST.get("review") else "model"
            job = campaign_push_enqueue(campaign=campaign, image_ids=image_ids, created_by=request.user,
                                        starting=starting)
        except ApplicationError as exc:
            return bad_filters(request, [("push", str(exc))])
        except ServiceUnavailable as exc:  # the job is recorded as queued; it starts once the queue is back
            return render(request, "browse/action_done.html", {"pages": PAGES, "page": "browse",
                          "title": "The job queue is unavailable", "lines": [str(exc)], "links": []}, status=503)
        what = "back for review, starting from the newest human pass" if starting == "human" else "for labelling"
        return _done(request, title=f"{len(image_ids)} image(s) queued for {campaign.name}",
                     lines=[f"Job {job.pk} sends them to the campaign's Label Studio project {what}."],
                     links=[(reverse("dashboard:jobs"), "Jobs"),
                            (f"{reverse('browse:gallery')}?{request.POST.get('filter', '')}", "Back to the gallery")])
