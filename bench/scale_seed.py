"""bench/scale.py's rows: images with annotations written with PostgreSQL's COPY (psycopg's copy), tiny blobs.

No file is written: blob rows stand for files no measured path reads. Columns a model has beyond the ones set
here take the field's default, so the seeding follows the schema as it grows.
"""

import hashlib
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

GENERATORS = 5
LABELLED_SHARE = 2  # every second image has a human pass (with a mask); every image has a model pass


def _defaults(model, given: set[str]) -> dict:
    """Each concrete column not in `given`: its default (auto_now_add: now), as COPY needs every value."""
    out, now = {}, timezone.now()
    for field in model._meta.concrete_fields:
        if field.attname in given or field.primary_key:
            continue
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
            out[field.attname] = now
        elif field.has_default():
            out[field.attname] = field.get_default()
        elif field.null:
            out[field.attname] = None
        else:
            out[field.attname] = "" if field.get_internal_type() in ("CharField", "TextField") else None
    return out


def copy_rows(model, rows: list[dict]) -> None:
    """COPY rows (dicts of attname → value) into the model's table; JSON values are wrapped for psycopg."""
    if not rows:
        return
    columns = list(rows[0])
    defaults = _defaults(model, set(columns))
    columns += list(defaults)
    json_cols = {f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"}
    column_of = {f.attname: f.column for f in model._meta.concrete_fields}
    names = ", ".join(connection.ops.quote_name(column_of[c]) for c in columns)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN") as copy:
            for row in rows:
                values = {**row, **defaults}
                copy.write_row([Jsonb(values[c]) if c in json_cols and values[c] is not None else values[c]
                                for c in columns])


def _sha(kind: str, i: int) -> str:
    return hashlib.sha256(f"{kind}-{i}".encode()).hexdigest()


def seed_base() -> dict:
    """The rows every size shares: generators, an admin (the annotator), the model behind the model passes, the
    synthesis task."""
    from django.contrib.auth.models import User

    from backend.core.roles import Role
    from backend.core.users import user_get_or_create_with_role
    from backend.images.models import Generator, SynthesisTask
    from backend.mlmodels.models import ModelVersion

    generators = [Generator.objects.create(name=f"scale-gen-{g}", version="1") for g in range(GENERATORS)]
    admin = user_get_or_create_with_role(username="scale-admin", role=Role.ADMIN)
    User.objects.filter(pk=admin.pk).update(is_staff=True, is_superuser=True)
    ModelVersion.objects.get_or_create(kind=ModelVersion.Kind.SEGMENTER, name="scale-model", version="1")
    return {"generators": generators, "admin": admin, "task": SynthesisTask.objects.get(slug="text_to_image")}


def seed_images(base: dict, start: int, stop: int) -> None:
    """Images start..stop-1 (by index): blob rows, images, a model pass each, a human pass with a mask and a box
    on every LABELLED_SHARE-th; the images' label summary set as the services would."""
    from backend.annotations.models import Annotation, MaskLabel, RegionLabel
    from backend.core.models import Blob
    from backend.images.models import GeneratedImage
    from backend.mlmodels.models import ModelVersion
    from backend.taxonomy.selectors import artifact_class_list

    model_version = ModelVersion.objects.order_by("pk").first()
    classes = list(artifact_class_list().values_list("pk", flat=True))
    t0 = timezone.now() - timedelta(days=30)
    chunk = 50_000
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        copy_rows(Blob, [{"sha256": _sha("img", i), "key": f"blobs/scale/{i}.png", "size": 100,
                          "content_type": "image/png", "created_at": t0} for i in range(lo, hi)]
                  + [{"sha256": _sha("mask", i), "key": f"blobs/scale/m{i}.png", "size": 60,
                      "content_type": "image/png", "created_at": t0} for i in range(lo, hi, LABELLED_SHARE)])
        first_id = _next_id(GeneratedImage)
        copy_rows(GeneratedImage, [{
            "id": first_id + (i - lo), "blob_id": _sha("img", i),
            "generator_id": base["generators"][i % GENERATORS].pk, "task_id": base["task"].pk,
            "width": 64, "height": 64, "format": "PNG", "created_at": t0 + timedelta(seconds=i),
            "prompt": f"prompt {i}", "metadata": {}, "par": (i % 97) / 100 if i % LABELLED_SHARE == 0 else None,
            "par_source": "human" if i % LABELLED_SHARE == 0 else "", "is_labelled": i % LABELLED_SHARE == 0,
        } for i in range(lo, hi)])
        ann_id = _next_id(Annotation)
        rows, masks, regions = [], [], []
        for i in range(lo, hi):
            image_id = first_id + (i - lo)
            if model_version is not None:
                rows.append({"id": ann_id, "image_id": image_id, "model_version_id": model_version.pk,
                             "user_id": None, "status": Annotation.Status.SUBMITTED, "lead_time": None,
                             "submitted_at": t0, "is_current": True})
                ann_id += 1
            if i % LABELLED_SHARE == 0:
                rows.append({"id": ann_id, "image_id": image_id, "model_version_id": None, "user_id": base["admin"].pk,
                             "status": Annotation.Status.SUBMITTED, "lead_time": 30.0 + i % 60,
                             "submitted_at": t0 + timedelta(seconds=i), "is_current": True})
                masks.append({"annotation_id": ann_id, "blob_id": _sha("mask", i), "width": 64, "height": 64,
                              "artifact_pixels": 4096 * (i % 97) // 100, "par": (i % 97) / 100})
                regions.append({"annotation_id": ann_id, "x1": 2.0, "y1": 4.0, "x2": 2.0 + 1 + i % 60, "y2": 40.0,
                                "artifact_class_id": classes[i % len(classes)], "caption": f"artifact {i}"})
                ann_id += 1
        copy_rows(Annotation, rows)
        copy_rows(MaskLabel, masks)
        copy_rows(RegionLabel, regions)
    for model in (GeneratedImage, Annotation, MaskLabel, RegionLabel):
        _sync_sequence(model)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _next_id(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
        return cursor.fetchone()[0]


def _sync_sequence(model) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                       f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")

