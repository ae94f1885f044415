"""The one place that calls Label Studio: a small client with the operations Flawmap needs, configured from
settings. Services call its methods and get plain values back; none of them sees the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import httpx
from django.conf import settings
from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from backend.core.exceptions import ApplicationError, ServiceUnavailable


@dataclass(frozen=True)
class LsProject:
    id: int
    title: str
    label_config: str


@dataclass(frozen=True)
class LsWebhook:
    id: int
    url: str
    headers: dict
    actions: list[str]
    send_payload: bool
    send_for_all_actions: bool
    is_active: bool


@dataclass(frozen=True)
class LsTask:
    id: int
    data: dict
    annotations: list[dict]


class LabelStudioUnavailable(ServiceUnavailable):
    """Label Studio did not answer, or refused: the API answers 503 with this message, a job fails with it."""


@contextmanager
def _answering(what: str) -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        raise LabelStudioUnavailable(f"Label Studio refused to {what}: HTTP {exc.status_code} "
                                     f"{str(exc.body)[:300]}") from exc
    except (httpx.HTTPError, OSError) as exc:
        raise LabelStudioUnavailable(f"Label Studio at {settings.LABEL_STUDIO_URL} did not answer ({what}): "
                                     f"{exc.__class__.__name__}: {exc}") from exc


class LabelStudioClient:
    """Every method turns a refusal or a network failure into LabelStudioUnavailable, never a bare SDK error."""

    def __init__(self, sdk: LabelStudio):
        # The raw SDK, for tests and one-off scripts; product code uses the methods below.
        self.sdk = sdk

    # ---- projects
    def projects(self) -> list[LsProject]:
        with _answering("list projects"):
            return [LsProject(p.id, p.title or "", p.label_config or "") for p in self.sdk.projects.list()]

    def project_create(self, *, title: str, description: str, label_config: str) -> LsProject:
        with _answering("create a project"):
            p = self.sdk.projects.create(title=title, description=description, label_config=label_config)
        return LsProject(p.id, p.title or "", p.label_config or "")

    def project_set_label_config(self, *, project_id: int, label_config: str) -> None:
        with _answering("update a labelling config"):
            self.sdk.projects.update(id=project_id, label_config=label_config)

    # ---- webhooks
    def webhooks(self, *, project_id: int) -> list[LsWebhook]:
        with _answering("list webhooks"):
            return [_webhook(h) for h in self.sdk.webhooks.list(project=str(project_id))]

    def webhook_create(self, *, project_id: int, url: str, **fields) -> LsWebhook:
        with _answering("create a webhook"):
            return _webhook(self.sdk.webhooks.create(url=url, project=project_id, **fields))

    def webhook_update(self, *, webhook_id: int, **fields) -> None:
        with _answering("update a webhook"):
            self.sdk.webhooks.update(id=webhook_id, **fields)

    def webhook_delete(self, *, webhook_id: int) -> None:
        with _answering("delete a webhook"):
            self.sdk.webhooks.delete(id=webhook_id)

    # ---- tasks, predictions, annotations, users
    def tasks(self, *, project_id: int) -> Iterator[LsTask]:
        """Every task of the project with its annotations (the SDK pages through them)."""
        with _answering("list tasks"):
            for t in self.sdk.tasks.list(project=project_id, fields="all"):
                yield LsTask(t.id, t.data or {}, list(t.annotations or []))

    def tasks_import(self, *, project_id: int, tasks: list[dict]) -> list[int]:
        """Create the tasks; returns their ids in the order they were sent."""
        with _answering("import tasks"):
            response = self.sdk.projects.import_tasks(id=project_id, request=tasks, return_task_ids=True)
        return list(response.task_ids or [])

    def task_data_update(self, *, task_id: int, data: dict) -> None:
        """Replace the task's data (Label Studio keeps its annotations and predictions)."""
        with _answering("update a task"):
            self.sdk.tasks.update(id=str(task_id), data=data)

    def prediction_create(self, *, task_id: int, result: list, score: float | None, model_version: str) -> None:
        with _answering("add a prediction"):
            self.sdk.predictions.create(task=task_id, result=result, score=score, model_version=model_version)

    def annotation_create(self, *, task_id: int, result: list, lead_time: float) -> int:
        with _answering("create an annotation"):
            return self.sdk.annotations.create(id=task_id, result=result, lead_time=lead_time).id

    def user_email(self, *, user_id: int) -> str:
        with _answering("look a user up"):
            return self.sdk.users.get(id=user_id).email or ""


def _webhook(h) -> LsWebhook:
    return LsWebhook(h.id, h.url or "", dict(h.headers or {}), sorted(h.actions or []), bool(h.send_payload),
                     bool(h.send_for_all_actions), bool(h.is_active))


@lru_cache(maxsize=4)
def _client(url: str, api_key: str, timeout: float) -> LabelStudioClient:
    # Cached: the SDK trades the personal access token for an access token once and refreshes it.
    return LabelStudioClient(LabelStudio(base_url=url, api_key=api_key, timeout=timeout))


def ls_client() -> LabelStudioClient:
    if not settings.LABEL_STUDIO_URL or not settings.LABEL_STUDIO_API_KEY:
        raise ApplicationError(
            "Label Studio is not configured: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY "
            "(for a local server run `make labelstudio`)"
        )
    return _client(settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY, settings.LABEL_STUDIO_TIMEOUT)
