"""Writes for images: generators and the one ingest path the API and the CLI share."""

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from backend.annotations.masks import CanonicalMask, mask_canonicalize
from backend.annotations.models import MaskLabel
from backend.annotations.services import annotation_create
from backend.core.blobs import atomic_with_blobs, blob_delete_unreferenced, blob_store, sha256_hex
from backend.core.exceptions import ApplicationError
from backend.images.locks import images_delete_lock
from backend.images.models import ConditionalInput, GeneratedImage, Generator, SynthesisTask
from backend.images.validation import ImageInfo, Rejected, inspect_image

CONDITIONAL_TEXT_ROLES = {ConditionalInput.Role.PROMPT_TEXT}


class GeneratorNotFound(ApplicationError):
    """`generator_resolve` found no generator of that name (and version)."""


def _generator_check(generator: Generator) -> None:
    """Field limits, family choices and a JSON-object metadata, checked the same for the API and the CLI
    (SQLite, the demo's database, would store an over-long name without a word)."""
    if not isinstance(generator.metadata, dict):
        raise ApplicationError("metadata must be a JSON object")
    try:
        generator.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise ApplicationError("; ".join(f"{field}: {' '.join(errors)}"
                                         for field, errors in exc.message_dict.items())) from exc


@transaction.atomic
def generator_create(*, name: str, version: str = "", family: str = Generator.Family.OTHER,
                     metadata: dict | None = None) -> Generator:
    if Generator.objects.filter(name=name, version=version).exists():
        raise ApplicationError(f"generator {name!r} version {version!r} already exists")
    generator = Generator(name=name, version=version, family=family, metadata={} if metadata is None else metadata)
    _generator_check(generator)
    generator.save()
    return generator


@transaction.atomic
def generator_get_or_create(*, name: str, version: str = "", family: str | None = None,
                            metadata: dict | None = None) -> tuple[Generator, bool]:
    """Idempotent create: an existing generator is returned as it is (created False). A `family` or
    `metadata` given that differs from the stored one is an error naming both values: nothing is changed
    silently, and a second run with the same arguments succeeds."""
    existing = Generator.objects.filter(name=name, version=version).first()
    if existing is None:
        return generator_create(name=name, version=version, family=family or Generator.Family.OTHER,
                                metadata=metadata), True
    asked = {"family": family, "metadata": metadata}
    differs = [f"{field} is {getattr(existing, field)!r}, not {value!r}"
               for field, value in asked.items() if value is not None and getattr(existing, field) != value]
    if differs:
        raise ApplicationError(f"generator {name!r} version {version!r} already exists and its "
                               f"{'; '.join(differs)}; nothing was changed")
    return existing, False


def generator_resolve(*, name: str, version: str | None = None) -> Generator:
    """Find a generator by name (and version). Unknown names are an error, never created silently."""
    qs = Generator.objects.filter(name=name)
    if version is not None:
        qs = qs.filter(version=version)
    found = list(qs[:2])
    if not found:
        label = f"{name!r}" + (f" version {version!r}" if version is not None else "")
        raise GeneratorNotFound(f"unknown generator {label}; create it first "
                                f"(`python manage.py generator_create` or POST /api/generators/)")
    if len(found) > 1:
        raise ApplicationError(f"generator {name!r} has several versions; say which one")
    return found[0]


def task_resolve(*, slug: str) -> SynthesisTask:
    task = SynthesisTask.objects.filter(slug=slug).first()
    if task is None:
        known = ", ".join(SynthesisTask.objects.values_list("slug", flat=True))
        raise ApplicationError(f"unknown synthesis task {slug!r}; known tasks: {known}")
    return task


@dataclass
class ConditionalFile:
    role: str
    name: str
    data: bytes


@dataclass
class IngestItem:
    """One image to ingest with everything known about it. `name` is what errors report."""

    name: str
    data: bytes
    prompt: str = ""
    seed: int | None = None
    domain: str = ""
    source_uri: str = ""
    metadata: dict = field(default_factory=dict)
    conditional_inputs: list[ConditionalFile] = field(default_factory=list)
    mask_name: str = ""
    mask_data: bytes | None = None
    generator: Generator | None = None  # per-item override of the batch's generator
    task: SynthesisTask | None = None


@dataclass
class IngestOutcome:
    image: GeneratedImage
    created: bool


class ItemRejected(Exception):
    def __init__(self, path: str, error: str):
        super().__init__(f"{path}: {error}")
        self.path = path
        self.error = error


def _check_conditional(cond: ConditionalFile, max_pixels: int) -> str:
    if cond.role not in ConditionalInput.Role.values:
        raise Rejected(f"unknown conditional input role {cond.role!r};"
                       f" known: {', '.join(ConditionalInput.Role.values)}")
    if cond.role in CONDITIONAL_TEXT_ROLES:
        try:
            cond.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected("prompt_text input is not UTF-8 text") from exc
        return "text/plain"
    return inspect_image(cond.data, max_pixels=max_pixels).content_type


@dataclass
class PreparedItem:
    """An item after the checks that need no database: hash, full decode, mask and inputs checked."""

    item: IngestItem
    sha: str = ""
    info: ImageInfo | None = None
    conditional_types: list[str] = field(default_factory=list)
    mask: CanonicalMask | None = None
    rejection: ItemRejected | None = None


def image_prepare(*, item: IngestItem) -> PreparedItem:
    """CPU-only half of ingest. Touches no database, so batches run it in worker threads ahead of storing."""
    max_pixels = settings.FLAWMAP_MAX_PIXELS
    prepared = PreparedItem(item=item)
    if len(item.data) > settings.FLAWMAP_MAX_UPLOAD_BYTES:
        prepared.rejection = ItemRejected(item.name, f"file is {len(item.data)} bytes, over FLAWMAP_MAX_UPLOAD_BYTES")
        return prepared
    prepared.sha = sha256_hex(item.data)
    try:
        prepared.info = inspect_image(item.data, max_pixels=max_pixels)
    except Rejected as exc:
        prepared.rejection = ItemRejected(item.name, str(exc))
        return prepared
    for cond in item.conditional_inputs:
        try:
            prepared.conditional_types.append(_check_conditional(cond, max_pixels))
        except Rejected as exc:
            prepared.rejection = ItemRejected(cond.name, str(exc))
            return prepared
    if item.mask_data is not None:
        try:
            prepared.mask = mask_canonicalize(item.mask_data, width=prepared.info.width, height=prepared.info.height)
        except Rejected as exc:
            prepared.rejection = ItemRejected(item.mask_name or item.name, str(exc))
    return prepared


def image_fields(*, prepared: PreparedItem, blob, generator: Generator, task: SynthesisTask) -> dict:
    """The image row's fields for a prepared item, for one insert or a batch's bulk insert."""
    item, info = prepared.item, prepared.info
    return dict(
        blob=blob, width=info.width, height=info.height, format=info.format,
        generator=item.generator or generator, task=item.task or task, prompt=item.prompt,
        seed=item.seed, domain=item.domain, source_uri=item.source_uri,
        original_name=item.name[-255:], metadata=item.metadata,
    )


def image_store(*, prepared: PreparedItem, generator: Generator, task: SynthesisTask, annotator=None) -> IngestOutcome:
    """Database half of ingest: a duplicate is reported, a rejected item raised, a new one stored whole."""
    item = prepared.item
    if prepared.sha:
        existing = GeneratedImage.objects.filter(blob_id=prepared.sha).first()
        if existing is not None:
            return IngestOutcome(existing, created=False)
    if prepared.rejection is not None:
        raise prepared.rejection
    if prepared.mask is not None and annotator is None:
        raise ApplicationError("ingesting masks needs an annotator user")
    info = prepared.info
    try:
        with atomic_with_blobs():
            blob = blob_store(data=item.data, content_type=info.content_type, sha256=prepared.sha)
            image = GeneratedImage.objects.create(**image_fields(prepared=prepared, blob=blob, generator=generator,
                                                                 task=task))
            for cond, content_type in zip(item.conditional_inputs, prepared.conditional_types):
                ConditionalInput.objects.create(
                    image=image, role=cond.role, original_name=cond.name[-255:],
                    blob=blob_store(data=cond.data, content_type=content_type),
                )
            if prepared.mask is not None:
                annotation_create(image=image, user=annotator, mask=prepared.mask)
    except IntegrityError:
        # Another ingest stored the same bytes between our check and our insert.
        existing = GeneratedImage.objects.filter(blob_id=prepared.sha).first()
        if existing is None:
            raise
        return IngestOutcome(existing, created=False)
    return IngestOutcome(image, created=True)


def image_ingest(*, item: IngestItem, generator: Generator, task: SynthesisTask, annotator=None) -> IngestOutcome:
    """Store one generated image (and its conditional inputs and human mask) or report it a duplicate.

    Raises ItemRejected naming the offending file; then nothing of the item is stored.
    """
    return image_store(prepared=image_prepare(item=item), generator=generator, task=task, annotator=annotator)


@transaction.atomic
def task_create(*, slug: str, name: str, description: str = "", is_conditional: bool = False) -> SynthesisTask:
    if SynthesisTask.objects.filter(slug=slug).exists():
        raise ApplicationError(f"synthesis task {slug!r} already exists")
    order = (SynthesisTask.objects.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    return SynthesisTask.objects.create(slug=slug, name=name, description=description,
                                        is_conditional=is_conditional, order=order)


@transaction.atomic
def image_delete(*, image: GeneratedImage) -> None:
    """Delete an image with its conditional inputs and annotations; files no row uses any more go too."""
    images_delete_lock()  # after any snapshot still writing items that point at it (backend/images/locks.py)
    blobs = [image.blob]
    blobs += [c.blob for c in image.conditional_inputs.select_related("blob")]
    blobs += [m.blob for m in MaskLabel.objects.filter(annotation__image=image).select_related("blob")]
    # History links (previous) are PROTECT; break them before the cascade.
    image.annotations.update(previous=None)
    image.delete()
    for blob in {b.pk: b for b in blobs}.values():
        blob_delete_unreferenced(blob)
