"""What bench/webhook.py posts: the seeded campaign, images and tasks, and the ANNOTATION_CREATED bodies."""

import io
import json
import os

import numpy as np
from PIL import Image

LS_PROJECT_ID = 1
LS_USER_ID = 7
FIRST_TASK_ID = 1001
FIRST_ANNOTATION_ID = 100_001
UPDATED_AT = "2026-01-15T10:00:00Z"
# A Label Studio webhook carries the serialized project; this keeps the body near a real one's size.
LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true" brightnessControl="true" contrastControl="true"/>
  <BrushLabels name="artifact_mask" toName="image"><Label value="Artifact" background="#ff0000"/></BrushLabels>
  <RectangleLabels name="artifact_box" toName="image">%s</RectangleLabels>
  <TextArea name="caption" toName="image" perRegion="true" editable="true"/>
  <Choices name="no_artifacts" toName="image"><Choice value="No artifacts"/></Choices>
</View>"""


def _png(width: int, height: int, seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def seed(n_images: int, size: tuple[int, int]) -> tuple[list[dict], str]:
    """Campaign, images, tasks and the Label Studio user; returns the task dicts and a class label."""
    from annotator.models import Campaign, CampaignTask, LabelStudioUser
    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.services import IngestItem, generator_create, image_ingest, task_resolve
    from backend.taxonomy.selectors import artifact_class_list

    width, height = size
    generator = generator_create(name="bench-webhook", version=str(os.getpid()))
    synthesis_task = task_resolve(slug="text_to_image")
    campaign = Campaign.objects.create(name="bench-webhook", ls_project_id=LS_PROJECT_ID, ls_webhook_id=1)
    user = user_get_or_create_with_role(username="bench-annotator@example.org", role=Role.ANNOTATOR)
    LabelStudioUser.objects.create(ls_user_id=LS_USER_ID, email="bench-annotator@example.org", user=user)
    tasks = []
    for i in range(n_images):
        image = image_ingest(item=IngestItem(name=f"bench_{i:04d}.png", data=_png(width, height, 5000 + i)),
                             generator=generator, task=synthesis_task).image
        ls_task_id = FIRST_TASK_ID + i
        CampaignTask.objects.create(campaign=campaign, image=image, ls_task_id=ls_task_id)
        tasks.append({"id": ls_task_id, "data": {"image": f"http://127.0.0.1/signed/{image.pk}",
                                                 "flawmap_image_id": image.pk}, "project": LS_PROJECT_ID})
    names = sorted(c.name for c in artifact_class_list())
    if not names:
        raise SystemExit("the taxonomy has no artifact classes (migrations did not seed it?)")
    label = "Localized Blur" if "Localized Blur" in names else names[0]
    return tasks, label


def build_payloads(count: int, tasks: list[dict], label: str, size: tuple[int, int],
                   shared_mask: bool) -> list[tuple[int, bytes]]:
    """`count` distinct ANNOTATION_CREATED bodies: (annotation id, JSON bytes), spread over the tasks."""
    from annotator.converter import LSRegion, labels_to_results

    width, height = size
    bw, bh = max(2, width // 4), max(2, height // 4)
    positions = [(x, y) for y in range(height - bh) for x in range(width - bw)]
    if not shared_mask and count > len(positions):
        raise SystemExit(f"{width}x{height} images allow {len(positions)} distinct masks, {count} needed")
    project = {"id": LS_PROJECT_ID, "title": "bench-webhook", "label_config": LABEL_CONFIG % "".join(
        f'<Label value="{n}"/>' for n in [label] * 12), "created_by": {"id": 1, "email": "admin@example.org"}}
    bodies = []
    for k in range(count):
        ann_id = FIRST_ANNOTATION_ID + k
        task = tasks[k % len(tasks)]
        x, y = positions[0 if shared_mask else (k * 7919) % len(positions)]  # scattered, all distinct
        mask = np.zeros((height, width), dtype=bool)
        mask[y:y + bh, x:x + bw] = True
        result = labels_to_results(mask=mask, regions=[LSRegion(x, y, x + bw, y + bh, label, "")],
                                   width=width, height=height)
        body = {
            "action": "ANNOTATION_CREATED",
            "project": project,
            "task": task,
            "annotation": {"id": ann_id, "task": task["id"], "project": LS_PROJECT_ID, "result": result,
                           "completed_by": LS_USER_ID, "lead_time": 12.5, "was_cancelled": False,
                           "ground_truth": False, "created_at": UPDATED_AT, "updated_at": UPDATED_AT},
        }
        bodies.append((ann_id, json.dumps(body).encode()))
    return bodies
