"""Store a run of plain new images in one transaction: one look-up for duplicates, one insert for the blobs and
one for the image rows, instead of a transaction and half a dozen statements per image.

Only "plain" items come here: checked, not rejected, without a mask or conditional inputs (those go through
`image_store` one at a time). The outcomes are those `image_store` gives item after item: a file whose bytes
are already stored, or that appeared earlier in the same batch, is a duplicate of that image.
"""

from backend.core.blobs import atomic_with_blobs
from backend.core.blobs_batch import blobs_store_hashed
from backend.images.models import GeneratedImage, Generator, SynthesisTask
from backend.images.services import IngestOutcome, PreparedItem, image_fields


def is_plain(prepared: PreparedItem | None) -> bool:
    return (prepared is not None and prepared.rejection is None and prepared.mask is None
            and not prepared.item.conditional_inputs)


def images_store_many(*, prepared: list[PreparedItem], generator: Generator,
                      task: SynthesisTask) -> list[IngestOutcome]:
    """`image_store` for each plain item, in order, all or nothing: a database error (a concurrent ingest of
    the same bytes: IntegrityError) rolls the whole batch back, files included, and is raised; the caller then
    stores the items one by one."""
    existing = {image.blob_id: image for image in GeneratedImage.objects.filter(blob_id__in=[p.sha for p in prepared])}
    first: dict[str, int] = {}
    for index, item in enumerate(prepared):
        if item.sha not in existing and item.sha not in first:
            first[item.sha] = index
    created: dict[str, GeneratedImage] = {}
    if first:
        new = [prepared[index] for index in first.values()]
        with atomic_with_blobs():
            blobs = blobs_store_hashed(items=[(p.sha, p.item.data, p.info.content_type) for p in new])
            rows = [GeneratedImage(**image_fields(prepared=p, blob=blobs[p.sha], generator=generator, task=task))
                    for p in new]
            created = {image.blob_id: image for image in GeneratedImage.objects.bulk_create(rows)}
    outcomes = []
    for index, item in enumerate(prepared):
        if item.sha in existing:
            outcomes.append(IngestOutcome(existing[item.sha], created=False))
        else:
            outcomes.append(IngestOutcome(created[item.sha], created=first[item.sha] == index))
    return outcomes
