from django.db.models import Count, QuerySet

from backend.core.exceptions import ApplicationError
from backend.images.models import GeneratedImage
from backend.mlmodels.models import UNIFIED, ModelVersion, PromotionDecision


def model_version_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[ModelVersion]:
    qs = ModelVersion.objects.select_related("checkpoint")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return qs


def model_version_get(*, model_version_id: int) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=model_version_id).first()


def model_production_get(*, kind: str, scope: str = UNIFIED) -> ModelVersion | None:
    """The production model of one scope (default: the unified one, which serves every image no specialist
    serves). To serve a given image, use `production_model_for`."""
    return ModelVersion.objects.select_related("checkpoint").filter(kind=kind, scope=scope,
                                                                    status="production").first()


# Routing. An image is served by the production model of its most specific scope: its generator's specialist,
# else its task's, else the unified model. Generator before task because a generator is the narrower set (a
# generator's images mostly come from one or two tasks, a task's from many generators) and because a
# generator's specialist is what onboarding trains for exactly that generator's artifacts. Only production
# models route, and a specialist reaches production only through the promotion gate on its own benchmark
# (learning/training.py) or an admin's promotion.
def route_scopes(*, generator: str | None, task: str | None) -> list[str]:
    """The scopes that could serve an image of this generator name and task slug, most specific first."""
    return [s for s in (generator and f"generator:{generator}", task and f"task:{task}") if s] + [UNIFIED]


def production_models(*, kind: str) -> dict[str, ModelVersion]:
    """scope → production model of `kind`."""
    return {m.scope: m for m in ModelVersion.objects.select_related("checkpoint").filter(kind=kind,
                                                                                         status="production")}


def production_route(productions: dict[str, ModelVersion], *, generator: str | None,
                     task: str | None) -> ModelVersion | None:
    return next((productions[s] for s in route_scopes(generator=generator, task=task) if s in productions), None)


def production_model_for(*, kind: str, image) -> ModelVersion | None:
    """The production model of `kind` that serves this GeneratedImage (None when no scope of it has one)."""
    return production_route(production_models(kind=kind), generator=image.generator.name, task=image.task.slug)


def images_by_model(*, kind: str, image_ids) -> dict[ModelVersion, list[int]]:
    """The listed images grouped by the production model that serves each; images nothing serves are left out."""
    productions = production_models(kind=kind)
    groups: dict[ModelVersion, list[int]] = {}
    if not productions:
        return groups
    rows = GeneratedImage.objects.filter(pk__in=image_ids).values_list("pk", "generator__name", "task__slug")
    for pk, generator, task in rows.order_by("pk"):
        model = production_route(productions, generator=generator, task=task)
        if model is not None:
            groups.setdefault(model, []).append(pk)
    return groups


def routing_table(*, kind: str | None = None) -> list[dict]:
    """Which production model serves which scope, per kind, unified first; `images` counts the images each
    model serves (their generator or task has no more specific production model)."""
    rows = []
    # One row per (generator, task) pair, not per image.
    image_rows = list(GeneratedImage.objects.order_by().values_list("generator__name", "task__slug")
                      .annotate(n=Count("id")))
    for k in [kind] if kind else ModelVersion.Kind.values:
        productions = production_models(kind=k)
        served: dict[str, int] = {}
        for generator, task, n in image_rows:
            model = production_route(productions, generator=generator, task=task)
            if model is not None:
                served[model.scope] = served.get(model.scope, 0) + n
        for scope in sorted(productions, key=lambda s: (s != UNIFIED, s)):
            rows.append({"kind": k, "scope": scope, "model": productions[scope], "images": served.get(scope, 0)})
    return rows


def promotion_decision_list(*, kind: str | None = None, limit: int = 50) -> list[PromotionDecision]:
    qs = PromotionDecision.objects.select_related("candidate", "incumbent")
    return list((qs.filter(kind=kind) if kind else qs)[:limit])


def model_version_lookup(ref: str, *, kind: str | None = None) -> ModelVersion:
    """A model version by id or by NAME@VERSION (as the management commands take it)."""
    qs = ModelVersion.objects.all() if kind is None else ModelVersion.objects.filter(kind=kind)
    if ref.isascii() and ref.isdigit():  # "²".isdigit() is True, but int() refuses it
        found = qs.filter(pk=int(ref)).first()
    elif "@" in ref:
        name, version = ref.rsplit("@", 1)
        matches = list(qs.filter(name=name, version=version)[:2])
        if len(matches) > 1:
            raise ApplicationError(f"{ref} names several kinds of model; pass --kind")
        found = matches[0] if matches else None
    else:
        raise ApplicationError(f"model reference must be an id or NAME@VERSION, not {ref!r}")
    if found is None:
        raise ApplicationError(f"no model version {ref}")
    return found
