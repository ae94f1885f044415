from django.db import models


class TaxonomyVersion(models.Model):
    """A frozen set of artifact classes. Extending the taxonomy makes a new version;
    labels keep pointing at the class rows of the version they were made with."""

    number = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=100)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"v{self.number} {self.name}"


class ArtifactClass(models.Model):
    class Group(models.TextChoices):
        OBJECT_AWARE = "object_aware", "Object-aware"
        OBJECT_AGNOSTIC = "object_agnostic", "Object-agnostic"
        LIGHTING = "lighting", "Lighting"
        OTHER = "other", "Other"

    taxonomy = models.ForeignKey(TaxonomyVersion, on_delete=models.PROTECT, related_name="classes")
    # SynArtifact's numeric id ("artifacts_class": "2"); stable across taxonomy versions.
    code = models.CharField(max_length=20)
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=120)
    group = models.CharField(max_length=20, choices=Group.choices)
    definition = models.TextField()
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["taxonomy__number", "order"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "slug"], name="artifactclass_unique_slug_per_version"),
            models.UniqueConstraint(fields=["taxonomy", "code"], name="artifactclass_unique_code_per_version"),
        ]

    def __str__(self) -> str:
        return self.name
