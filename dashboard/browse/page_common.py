"""What the image and version pages share: rendering inside the dashboard's frame, the 400 page that names the
wrong query parameter, and the links a page draws (image file, overlay, image page)."""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse

from dashboard.views import PAGES


class BadParameter(Exception):
    """A query or form parameter the page cannot use: answered with a 400 page naming it."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


def page(request, template: str, **context):
    # No nav entry is current: these pages are reached from the gallery, a datasheet or a link.
    return render(request, f"browse/{template}", {"pages": PAGES, "page": "", **context})


def bad_request(request, error: BadParameter, *, back: str | None = None):
    """The 400 page: which parameter, what is wrong with it, and a way back (the page itself, without its query)."""
    back = back or (request.path if request.method == "GET" else None)
    return render(request, "browse/_page_bad_request.html", {
        "pages": PAGES, "page": "", "parameter": error.parameter, "message": error.message, "back": back,
    }, status=400)


def int_param(params, name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, f"{raw!r} is not a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        limits = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadParameter(name, f"{value} is out of range ({limits})")
    return value


def image_file_url(image_id: int) -> str:
    """The picture at full resolution (the API's file route; the browser scales it down for a thumbnail)."""
    return reverse("image-file", kwargs={"image_id": image_id})


def thumbnail_url(image_id: int, pass_id: int | None) -> str:
    """The gallery's cached thumbnail (dashboard/browse/thumbnails.py) with this pass drawn, bare without one."""
    url = reverse("browse:thumbnail", kwargs={"image_id": image_id})
    return f"{url}?pass={pass_id}" if pass_id else url


def overlay_url(annotation_id: int, tint: int) -> str:
    return reverse("browse:overlay", kwargs={"annotation_id": annotation_id}) + f"?tint={tint}"


def image_page_url(image_id: int) -> str:
    return reverse("browse:image", kwargs={"image_id": image_id})
