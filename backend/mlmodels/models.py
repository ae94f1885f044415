from django.db import models

UNIFIED = "unified"
SCOPE_KINDS = ("generator", "task")


def scope_check(scope: str) -> str:
    """The scope, trimmed, if it is `unified`, `generator:<name>` or `task:<slug>`; ValueError otherwise."""
    scope = (scope or "").strip()
    kind, sep, value = scope.partition(":")
    if scope == UNIFIED or (sep and kind in SCOPE_KINDS and value.strip() and len(scope) <= 200):
        return scope
    raise ValueError(f"model scope must be unified, generator:<name> or task:<slug>, not {scope!r}")


class ModelVersion(models.Model):
    """A trained model (segmenter or VLM) that can annotate images."""

    class Kind(models.TextChoices):
        SEGMENTER = "segmenter", "Artifact segmenter"
        VLM = "vlm", "VLM artifact classifier"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=120)
    version = models.CharField(max_length=60)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    # Which images it is meant for: `unified` (all), `generator:<name>` (one generator's images, e.g. trained by
    # onboarding it) or `task:<slug>` (one synthesis task's). Routing serves an image with the production model
    # of its most specific scope (backend/mlmodels/selectors.py: production_model_for).
    scope = models.CharField(max_length=200, default=UNIFIED)
    # The weights file, content-addressed (our slim .pth with its config inside, or a TorchScript export).
    checkpoint = models.ForeignKey("core.Blob", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="model_versions")
    config_name = models.CharField(max_length=200, blank=True, default="")
    config = models.TextField(blank=True, default="")  # full config text the model was built from
    # An admin registered it with `model_register --trust-config`: its config runs even though it is not one
    # shipped in ml/segmentation/configs/ (config text is Python). False: loading re-checks it against those.
    config_trusted = models.BooleanField(default=False)
    metrics = models.JSONField(default=dict, blank=True)
    # The dataset version it was trained on, as the learning loop recorded it: {"dataset": name, "number": n,
    # "id": pk}, or {} when registered without one. A reference by value, not a foreign key: datasets sit above
    # the model registry (datasets refuse to delete a version a model names). Versions are immutable, so it stays
    # true.
    trained_on = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "version"], name="modelversion_unique"),
            # One production model per kind and scope: the one that serves the scope's images and that a candidate
            # of that scope must beat (the promotion gate).
            models.UniqueConstraint(fields=["kind", "scope"], condition=models.Q(status="production"),
                                    name="modelversion_one_production_per_kind_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"


class ImagePrediction(models.Model):
    """What one segmenter version said about one image, beyond its mask (kept as a model Annotation):
    the scores active learning ranks by and a feature vector for diversity sampling."""

    image = models.ForeignKey("images.GeneratedImage", on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    annotation = models.OneToOneField("annotations.Annotation", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="prediction")
    par = models.FloatField()
    entropy = models.FloatField(help_text="Mean pixel entropy in bits (high = unsure).")
    margin = models.FloatField(help_text="Mean |p(artifact) - p(clean)| (low = unsure).")
    features = models.JSONField(default=list, blank=True, help_text="Pooled backbone features.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="imageprediction_unique"),
        ]
        indexes = [models.Index(fields=["model_version", "entropy"], name="imageprediction_entropy")]


class ModelPromotion(models.Model):
    """One promotion to production, kept as history: `ModelVersion.promoted_at` only holds the latest one, so a
    rollback (promoting a retired version again) would otherwise erase when that version first served."""

    kind = models.CharField(max_length=20, choices=ModelVersion.Kind.choices)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotions")
    replaced = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The production model this promotion retired, if any.")
    promoted_at = models.DateTimeField()
    scope = models.CharField(max_length=200, default=UNIFIED)
    # The gate's numbers that allowed it (PromotionDecision.evidence); {"manual": true} for an admin's promotion
    # (API or `model_promote`), which is how a rollback is done.
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-promoted_at", "-id"]


class PromotionDecision(models.Model):
    """Every verdict of the promotion gate on a trained candidate, refusals included, with the numbers it was
    decided on: per benchmark both models' metric, the difference and its paired bootstrap 95 % interval."""

    class Outcome(models.TextChoices):
        PROMOTED = "promoted", "Promoted"
        REFUSED = "refused", "Refused"  # measured: not better on its scope, or worse elsewhere
        UNDECIDED = "undecided", "Too little evidence"  # a benchmark too small (or none): stays a candidate

    kind = models.CharField(max_length=20, choices=ModelVersion.Kind.choices)
    scope = models.CharField(max_length=200, default=UNIFIED)
    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="promotion_decisions")
    incumbent = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                  help_text="The production model that served the scope's images then, if any.")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
