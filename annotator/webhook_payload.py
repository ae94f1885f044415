"""What a Label Studio webhook payload must be before it is stored, in one place for both receivers.

`webhook_event_record` (annotator/services/events.py) runs these on every delivery, from the Django endpoint and
from the ingress's stream alike: a payload that fails becomes a failed WebhookEvent whose error names the field,
and nothing of it reaches the intake. The checks cover what would otherwise fail late and vaguely, or not at all:
ids PostgreSQL cannot hold (our Label Studio id columns are `integer`), values of the wrong type, NUL characters
(text and jsonb refuse U+0000: they are removed, the rest is kept), and nesting no Label Studio payload has.
"""

from __future__ import annotations

import math

from annotator.services.links import IMAGE_ID_FIELD
from backend.core.exceptions import ApplicationError

# PostgreSQL `integer`: ls_project_id, ls_task_id, ls_annotation_id and ls_user_id are PositiveIntegerFields.
MAX_LS_ID = 2**31 - 1
# Flawmap's own primary keys (a task's image id) are `bigint`.
MAX_FLAWMAP_ID = 2**63 - 1
# A Label Studio payload is about six levels deep (payload → annotation → result → value → rle).
MAX_DEPTH = 32


class WebhookPayloadInvalid(ApplicationError):
    """A payload that cannot be stored or converted; the message names the field."""


def json_without_nul(value, *, _depth: int = 0):
    """A copy of decoded JSON without NUL characters in its keys and strings (PostgreSQL refuses them in text and
    jsonb); more than MAX_DEPTH levels of nesting is refused (WebhookPayloadInvalid)."""
    if _depth > MAX_DEPTH:
        raise WebhookPayloadInvalid(f"payload nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): json_without_nul(v, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        if all(type(v) is int for v in value):  # a brush RLE: millions of numbers, nothing to clean
            return list(value)
        return [json_without_nul(v, _depth=_depth + 1) for v in value]
    return value


def _id(value, path: str, *, maximum: int = MAX_LS_ID, required: bool = False) -> None:
    if value is None and not required:
        return
    if type(value) is not int or not 1 <= value <= maximum:  # type(): True is an int to isinstance
        shown = "missing" if value is None else f"{value!r:.40} is not"
        raise WebhookPayloadInvalid(f"{path}: {shown} an id (an integer from 1 to {maximum})")


def _size(value, path: str) -> None:
    if value is not None and (type(value) is not int or not 1 <= value <= MAX_LS_ID):
        raise WebhookPayloadInvalid(f"{path}: {value!r:.40} is not an image size (an integer from 1 to {MAX_LS_ID})")


def _objects(payload: dict, one: str, many: str) -> list[tuple[str, dict]]:
    """`payload[one]` and the items of `payload[many]` (Label Studio sends either), each with its path."""
    found = []
    if payload.get(one) is not None:
        if not isinstance(payload[one], dict):
            raise WebhookPayloadInvalid(f"{one}: must be an object")
        found.append((one, payload[one]))
    if payload.get(many) is not None:
        if not isinstance(payload[many], list):
            raise WebhookPayloadInvalid(f"{many}: must be a list")
        for i, item in enumerate(payload[many]):
            if not isinstance(item, dict):
                raise WebhookPayloadInvalid(f"{many}[{i}]: must be an object")
            found.append((f"{many}[{i}]", item))
    return found


def webhook_annotation_check(annotation: dict, *, path: str = "annotation") -> None:
    """One Label Studio annotation, from a webhook or from reconcile; `path` names it in the message."""
    _id(annotation.get("id"), f"{path}.id", required=True)
    _id(annotation.get("task"), f"{path}.task")
    _id(annotation.get("completed_by"), f"{path}.completed_by")
    lead_time = annotation.get("lead_time")
    if lead_time is not None and (type(lead_time) not in (int, float) or not math.isfinite(lead_time)
                                  or lead_time < 0):
        raise WebhookPayloadInvalid(f"{path}.lead_time: {lead_time!r:.40} is not a number of seconds")
    for field in ("created_at", "updated_at", "draft_created_at"):
        if annotation.get(field) is not None and not isinstance(annotation[field], str):
            raise WebhookPayloadInvalid(f"{path}.{field}: must be a date string")
    results = annotation.get("result")
    if results is None:
        return
    if not isinstance(results, list):
        raise WebhookPayloadInvalid(f"{path}.result: must be a list")
    for j, result in enumerate(results):
        if not isinstance(result, dict):
            raise WebhookPayloadInvalid(f"{path}.result[{j}]: must be an object")
        _size(result.get("original_width"), f"{path}.result[{j}].original_width")
        _size(result.get("original_height"), f"{path}.result[{j}].original_height")


def webhook_payload_check(payload: dict) -> None:
    """Raise WebhookPayloadInvalid naming the first field Flawmap reads that is out of range or of the wrong type.
    (Brush RLEs are checked against the image they belong to when converted: annotator/converter.py.)"""
    project = payload.get("project")
    if isinstance(project, dict):
        _id(project.get("id"), "project.id")
    else:
        _id(project, "project")
    for path, task in _objects(payload, "task", "tasks"):
        _id(task.get("id"), f"{path}.id", required=True)
        data = task.get("data")
        if data is not None and not isinstance(data, dict):
            raise WebhookPayloadInvalid(f"{path}.data: must be an object")
        _id((data or {}).get(IMAGE_ID_FIELD), f"{path}.data.{IMAGE_ID_FIELD}", maximum=MAX_FLAWMAP_ID)
    for path, annotation in _objects(payload, "annotation", "annotations"):
        webhook_annotation_check(annotation, path=path)
