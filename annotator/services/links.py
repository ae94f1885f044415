"""Keep the signed image links in Label Studio's tasks valid: they expire (FLAWMAP_SIGNED_URL_MAX_AGE, a day by
default), while a task may wait weeks for its labeller."""

from annotator.client import LabelStudioClient, LsTask
from annotator.signing import image_signed_url, image_signed_url_is_fresh

IMAGE_ID_FIELD = "flawmap_image_id"
IMAGE_URL_FIELD = "image"


def ls_task_image_link_refresh(*, ls: LabelStudioClient, task: LsTask) -> bool:
    """Re-sign the task's image link unless it is fresh (signed less than half its lifetime ago, at this
    deployment's address, with this key); returns whether it was replaced. A network call: never inside a
    database transaction. Tasks Flawmap did not make (no image id) are left alone."""
    image_id = task.data.get(IMAGE_ID_FIELD)
    if not isinstance(image_id, int):
        return False
    if image_signed_url_is_fresh(url=task.data.get(IMAGE_URL_FIELD), image_id=image_id):
        return False
    ls.task_data_update(task_id=task.id, data={**task.data, IMAGE_URL_FIELD: image_signed_url(image_id=image_id)})
    return True
