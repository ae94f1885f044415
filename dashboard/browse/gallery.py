"""The gallery page (/browse/) and its thumbnails (/browse/thumbs/<image id>/?pass=<annotation id>)."""

from __future__ import annotations

from types import SimpleNamespace

from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotator.apis import CampaignPushApi
from backend.core.permissions import HasRole
from backend.images.models import GeneratedImage
from dashboard.browse.filters import PAGE_SIZES, SORTS, gallery_filter
from dashboard.browse.selectors_gallery import gallery_images, gallery_options, gallery_page, thumbnail_image
from dashboard.browse.thumbnails import CONTENT_TYPE, thumbnail_get, thumbnail_key
from dashboard.views import PAGES, dashboard_page
from datasets.apis import DatasetListApi

# A thumbnail's URL names its image and pass, and a pass never changes: the browser may keep it for good.
THUMBNAIL_CACHE = "private, max-age=31536000, immutable"


def api_allows(user, api_view) -> bool:
    """Whether `user` may POST to `api_view`: the API's own permission class and the endpoint's write role."""
    return HasRole().has_permission(SimpleNamespace(method="POST", user=user), api_view)


def bad_filters(request, problems: list[tuple[str, str]]):
    """The 400 page: which filter is wrong and why, with a way back."""
    return render(request, "browse/bad_filter.html", {"pages": PAGES, "page": "browse", "problems": problems},
                  status=400)


def _query_without(request, *names: str) -> str:
    params = request.GET.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def _url_pattern(name: str) -> str:
    """The route's URL with `{}` for its one id: reversed once a page, not once a card (100 reverses add up)."""
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def card_links(images: list[GeneratedImage]) -> None:
    """Each image's page and thumbnail (with its representative pass drawn) URLs."""
    page, thumb = _url_pattern("browse:image"), _url_pattern("browse:thumbnail")
    for image in images:
        image.page_url = page.format(image.pk)
        image.thumbnail_url = thumb.format(image.pk) + (f"?pass={image.pass_id}" if image.pass_id else "")


@dashboard_page
def gallery(request):
    options = gallery_options()
    filterset = gallery_filter(request.GET, options=options, queryset=gallery_images())
    if not filterset.is_valid():
        return bad_filters(request, filterset.problems())
    try:
        shown = gallery_page(filterset, page=request.GET.get("page"))
    except ValueError:
        return bad_filters(request, [("page", f"{request.GET.get('page')!r} is not a page number (1 or more)")])
    card_links(shown.images)
    return render(request, "browse/gallery.html", {
        "pages": PAGES, "page": "browse", "gallery": shown, "form": filterset.form, "options": options,
        "sorts": [(key, label) for key, (label, _) in SORTS.items()], "page_sizes": PAGE_SIZES,
        "query": _query_without(request, "page"), "filter_query": _query_without(request, "page", "size"),
        "can_push": api_allows(request.user, CampaignPushApi),
        "can_create_dataset": api_allows(request.user, DatasetListApi),
    })


@require_GET
@dashboard_page
def thumbnail(request, image_id: int):
    """The image with its pass drawn (`?pass=<annotation id>`; bare without), made now on a miss. ETag = the
    storage key: a browser that has it gets 304."""
    raw = request.GET.get("pass") or ""
    if raw and not raw.isdigit():
        return HttpResponse(f"pass: {raw!r} is not an annotation id", status=400, content_type="text/plain")
    image = thumbnail_image(image_id=image_id)
    if image is None:
        raise Http404("no such image")
    pass_id = int(raw) if raw else None
    etag = f'"{thumbnail_key(sha256=image.blob_id, pass_id=pass_id)}"'
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        data = thumbnail_get(image=image, pass_id=pass_id)
        if data is None:
            raise Http404(f"annotation {pass_id} is not a pass on image {image_id}")
        response = HttpResponse(data, content_type=CONTENT_TYPE)
    response["ETag"] = etag
    response["Cache-Control"] = THUMBNAIL_CACHE
    return response
