"""Signed, expiring image links: Label Studio (and the labeller's browser) fetch images without a session."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "flawmap.labelstudio.image"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def _url(token: str) -> str:
    return f"{settings.FLAWMAP_PUBLIC_URL.rstrip('/')}{reverse('signed-image-file', kwargs={'token': token})}"


def image_signed_url(*, image_id: int) -> str:
    return _url(_signer().sign(str(image_id)))


def image_id_from_token(token: str) -> int | None:
    """The image id, or None when the signature is wrong or older than FLAWMAP_SIGNED_URL_MAX_AGE."""
    try:
        return int(_signer().unsign(token, max_age=settings.FLAWMAP_SIGNED_URL_MAX_AGE))
    except (signing.BadSignature, ValueError):
        return None


def image_signed_url_is_fresh(*, url: str, image_id: int) -> bool:
    """Whether `url` is this deployment's link to the image, signed less than half FLAWMAP_SIGNED_URL_MAX_AGE ago.

    Half: reconcile re-signs what is not fresh, so as long as it runs at least that often a task's link always
    has half its lifetime left, and a task is re-signed about once per half lifetime, not on every run. A link to
    another address (FLAWMAP_PUBLIC_URL moved) or signed with another key (rotated) is not fresh either.
    """
    token = url.rsplit("/", 1)[-1] if isinstance(url, str) else ""
    if not token or url != _url(token):
        return False
    try:
        return _signer().unsign(token, max_age=settings.FLAWMAP_SIGNED_URL_MAX_AGE / 2) == str(image_id)
    except signing.BadSignature:  # includes SignatureExpired
        return False
