"""Signed, expiring image links: Label Studio (and the labeller's browser) fetch images without a session."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "flawmap.labelstudio.image"


def image_signed_url(*, image_id: int) -> str:
    token = signing.TimestampSigner(salt=_SALT).sign(str(image_id))
    path = reverse("signed-image-file", kwargs={"token": token})
    return f"{settings.FLAWMAP_PUBLIC_URL.rstrip('/')}{path}"


def image_id_from_token(token: str) -> int | None:
    """The image id, or None when the signature is wrong or older than FLAWMAP_SIGNED_URL_MAX_AGE."""
    try:
        return int(signing.TimestampSigner(salt=_SALT).unsign(token, max_age=settings.FLAWMAP_SIGNED_URL_MAX_AGE))
    except (signing.BadSignature, ValueError):
        return None
