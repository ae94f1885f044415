"""Active-learning rounds: pick a campaign's next images for humans by an acquisition strategy, push them to
Label Studio in that order and keep each pick as a numbered round."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max

from annotator.models import Campaign
from annotator.services.push import campaign_push_images, unlabelled_image_ids
from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import UNIFIED, ImagePrediction, ModelVersion
from backend.mlmodels.selectors import images_by_model, model_production_get, production_models
from backend.mlmodels.services import prelabel_enqueue
from learning.models import ActiveLearningRound
from ml.active_learning import STRATEGIES, select


def campaign_next_batch(*, campaign: Campaign, k: int, strategy: str, seed: int = 0) -> dict:
    """Pick k unlabelled images of the campaign by `strategy`, push them to Label Studio in that order
    (Label Studio shows tasks in creation order) and return the picks with the scores behind them."""
    if strategy not in STRATEGIES:
        raise ApplicationError(f"unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
    if k < 1:
        raise ApplicationError("k must be at least 1")
    candidates = unlabelled_image_ids(campaign=campaign)
    scores: dict[int, ImagePrediction] = {}
    served: dict[ModelVersion, list[int]] = {}
    if strategy == "random":
        model = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
    else:
        # Each candidate is ranked by the prediction of the model that pre-labels it: its most specific production
        # segmenter (a generator's or task's specialist, else the unified model), whose scores the pre-label job
        # stored. The round records the model that serves most of them.
        productions = production_models(kind=ModelVersion.Kind.SEGMENTER)
        if not productions:
            raise ApplicationError(f"strategy {strategy!r} needs a production segmenter;"
                                   " use random for the first batch")
        served = images_by_model(kind=ModelVersion.Kind.SEGMENTER, image_ids=candidates)
        model = max(served, key=lambda m: (len(served[m]), m.pk)) if served else \
            productions.get(UNIFIED) or next(iter(productions.values()))  # no candidate left: nothing to rank
        unserved = len(candidates) - sum(len(ids) for ids in served.values())
        if unserved:
            raise ApplicationError(
                f"{unserved} candidate image(s) are served by no production segmenter (no unified model in "
                "production, and no specialist for their generator or task); promote one or use random",
                extra={"unserved": unserved})
        for serving, ids in served.items():
            scores.update((p.image_id, p) for p in ImagePrediction.objects.filter(model_version=serving,
                                                                                  image_id__in=ids))
        unscored = len(candidates) - len(scores)
        if unscored:
            # Scoring is the pre-label job's work, on a gpu worker, never this request's: queue it (one per model
            # at a time, so asking again does not queue more) and say which job to wait for.
            jobs = prelabel_enqueue(image_ids=None, subject=campaign)
            raise ApplicationError(f"{unscored} candidate image(s) have no prediction from the model that serves "
                                   f"them yet; wait for the pre-label job "
                                   f"({', '.join(f'job {j.pk}' for j in jobs)}) and ask again",
                                   extra={"unscored": unscored, "jobs": [j.pk for j in jobs]})
    preds = [scores[i] for i in candidates] if scores else []
    # Every model stores features now (torchscript.proxy_features for imported ones), but predictions stored
    # before that hold none; a partial set cannot be clustered (mix then ranks by uncertainty alone). Nor can
    # features of several models: each has its own feature space.
    featureless = sum(1 for p in preds if not p.features)
    if strategy == "diversity" and len(served) > 1:
        raise ApplicationError(
            f"diversity compares feature vectors of one model, and these candidates are served by {len(served)} "
            f"({', '.join(str(m) for m in served)}); use uncertainty, margin, mix, par or random")
    if strategy == "diversity" and featureless:
        raise ApplicationError(
            f"diversity needs a feature vector for every candidate, and {featureless} of {model}'s predictions "
            "hold none (stored before features were kept for this model); use uncertainty, margin, mix, par or "
            "random", extra={"featureless": featureless})
    labelled_features = None
    if strategy == "diversity":
        labelled_features = [p.features for p in ImagePrediction.objects.filter(
            model_version=model, image__campaign_tasks__campaign=campaign).exclude(features=[])] or None
    # No unlabelled image left: nothing to pick (the strategies would rank scores of nothing, or index past it).
    try:
        order = candidates and select(
            strategy, k=k, n=len(candidates), seed=seed,
            entropy=[p.entropy for p in preds] if preds else None,
            margin=[p.margin for p in preds] if preds else None,
            par=[p.par for p in preds] if preds else None,
            features=[p.features for p in preds] if preds and not featureless and len(served) == 1 else None,
            labelled_features=labelled_features,
        )
    except ValueError as exc:
        raise ApplicationError(str(exc)) from exc
    picked = [candidates[i] for i in order]
    report = campaign_push_images(campaign=campaign, image_ids=picked) if picked else None
    learning_round = learning_round_record(
        campaign=campaign, strategy=strategy, k=k, candidates=len(candidates), picked=len(picked),
        pushed=report.pushed if report else 0, model_version=model,
    ) if picked else None
    return {
        "strategy": strategy, "k": k, "candidates": len(candidates), "model_version": model.pk if model else None,
        "round": learning_round.number if learning_round else None,
        "picked": [
            {"image": candidates[i], **({"entropy": preds[i].entropy, "margin": preds[i].margin, "par": preds[i].par}
                                  if preds else {})}
            for i in order
        ],
        "pushed": report.pushed if report else 0,
    }


@transaction.atomic
def learning_round_record(
    *, campaign: Campaign, strategy: str, k: int, candidates: int, picked: int, pushed: int,
    model_version: ModelVersion | None,
) -> ActiveLearningRound:
    """Keep one next-batch pick as the campaign's next round (numbered 1, 2, ...), with the picking model's test
    metrics as they were then: a later retraining changes which model is in production, not this record."""
    # Lock the campaign so two picks at once get consecutive numbers instead of one failing on the constraint.
    Campaign.objects.select_for_update().get(pk=campaign.pk)
    last = ActiveLearningRound.objects.filter(campaign=campaign).aggregate(last=Max("number"))["last"] or 0
    metrics = (model_version.metrics or {}).get("test") or {} if model_version else {}
    return ActiveLearningRound.objects.create(
        campaign=campaign, number=last + 1, strategy=strategy, k=k, candidates=candidates, picked=picked,
        pushed=pushed, model_version=model_version, model_metrics=metrics,
    )
