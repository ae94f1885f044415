from django.db import transaction

from backend.core.exceptions import ApplicationError
from backend.taxonomy.models import ArtifactClass, TaxonomyVersion
from backend.taxonomy.selectors import taxonomy_current


@transaction.atomic
def taxonomy_version_create(*, name: str, note: str = "", add_classes: list[dict]) -> TaxonomyVersion:
    """Extend the taxonomy: copy the current classes into a new version and append new ones.

    Old labels keep referencing the previous version's class rows, so nothing they say changes.
    """
    current = taxonomy_current()
    existing = list(current.classes.all()) if current else []
    slugs = {c.slug for c in existing}
    codes = {c.code for c in existing}
    for new in add_classes:
        if new["slug"] in slugs:
            raise ApplicationError(f"artifact class slug {new['slug']!r} already exists")
        if new["code"] in codes:
            raise ApplicationError(f"artifact class code {new['code']!r} already exists")
        slugs.add(new["slug"])
        codes.add(new["code"])
    version = TaxonomyVersion.objects.create(
        number=(current.number + 1) if current else 1, name=name, note=note
    )
    rows = [
        ArtifactClass(taxonomy=version, code=c.code, slug=c.slug, name=c.name, group=c.group,
                      definition=c.definition, order=c.order)
        for c in existing
    ]
    start = len(rows)
    rows += [
        ArtifactClass(taxonomy=version, order=start + i + 1, **new) for i, new in enumerate(add_classes)
    ]
    ArtifactClass.objects.bulk_create(rows)
    return version
