from django.db.models import QuerySet

from backend.taxonomy.models import ArtifactClass, TaxonomyVersion


def taxonomy_current() -> TaxonomyVersion:
    return TaxonomyVersion.objects.order_by("-number").first()


def taxonomy_version_list() -> QuerySet[TaxonomyVersion]:
    return TaxonomyVersion.objects.prefetch_related("classes")


def artifact_class_list(*, version: int | None = None) -> QuerySet[ArtifactClass]:
    qs = ArtifactClass.objects.select_related("taxonomy")
    if version is None:
        current = taxonomy_current()
        return qs.filter(taxonomy=current) if current else qs.none()
    return qs.filter(taxonomy__number=version)
