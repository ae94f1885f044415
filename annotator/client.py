"""The Label Studio API client, configured from settings."""

from functools import lru_cache

from django.conf import settings
from label_studio_sdk.client import LabelStudio

from backend.core.exceptions import ApplicationError


@lru_cache(maxsize=4)
def _client(url: str, api_key: str, timeout: float) -> LabelStudio:
    # Cached: the SDK trades the personal access token for an access token once and refreshes it.
    return LabelStudio(base_url=url, api_key=api_key, timeout=timeout)


def ls_client() -> LabelStudio:
    if not settings.LABEL_STUDIO_URL or not settings.LABEL_STUDIO_API_KEY:
        raise ApplicationError(
            "Label Studio is not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY "
            "(for a local server run `make labelstudio`)"
        )
    return _client(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY, settings.LABEL_STUDIO_TIMEOUT)
