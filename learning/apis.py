"""The learning loop's API: next batch, onboarding a generator, training on demand."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.selectors import campaign_get
from backend.core.api import get_or_404
from backend.core.roles import Role
from backend.images.selectors import generator_get
from backend.mlmodels.models import ModelVersion
from datasets.selectors import dataset_get, dataset_version_get
from learning.services.onboarding import generator_onboard
from learning.services.retrain import campaign_retrain_maybe, model_train_enqueue
from learning.services.rounds import campaign_next_batch
from ml.active_learning import STRATEGIES


class CampaignNextBatchApi(APIView):
    """Pick the next k images for humans by an acquisition strategy and push them to Label Studio in that
    order. Annotators and admins.

    Synchronous on purpose, and no model runs here: the scores it ranks by (entropy, margin, PAR, features) are
    the ones the pre-label job stored when it scored the images on a gpu worker; this request only sorts them
    and pushes, and answers with the picks the Label Studio loop shows next. Candidates with no score yet are a
    400 that queues that job and names it (`jobs`): ask again once it has finished."""

    write_role = Role.ANNOTATOR

    class NextBatchInputSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=1000, default=20)
        strategy = serializers.ChoiceField(choices=list(STRATEGIES), default="uncertainty")
        seed = serializers.IntegerField(min_value=0, default=0)

    class NextBatchOutputSerializer(serializers.Serializer):
        class PickSerializer(serializers.Serializer):
            image = serializers.IntegerField()
            entropy = serializers.FloatField(required=False)
            margin = serializers.FloatField(required=False)
            par = serializers.FloatField(required=False)

        strategy = serializers.CharField()
        k = serializers.IntegerField()
        candidates = serializers.IntegerField()
        model_version = serializers.IntegerField(allow_null=True)
        picked = PickSerializer(many=True)
        pushed = serializers.IntegerField()
        round = serializers.IntegerField(allow_null=True, help_text="The campaign's learning round this pick is.")

    @extend_schema(request=NextBatchInputSerializer, responses=NextBatchOutputSerializer)
    def post(self, request, campaign_id: int):
        campaign = get_or_404(campaign_get(campaign_id=campaign_id), "campaign")
        data = self.NextBatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = campaign_next_batch(campaign=campaign, **data.validated_data)
        return Response(self.NextBatchOutputSerializer(result).data)


class GeneratorOnboardApi(APIView):
    """Admins: onboard a generator whose images are already ingested — an onboarding campaign, its first
    `labels` images picked by diversity and pushed to Label Studio; once they are labelled, the unified model is
    fine-tuned on them with the few-shot schedule (the training job's comparison holds IoU before and after)."""

    class OnboardInputSerializer(serializers.Serializer):
        labels = serializers.IntegerField(min_value=3, max_value=1000, default=10)
        strategy = serializers.ChoiceField(choices=["diversity", "uncertainty", "mix", "random"], default="diversity")

    @extend_schema(request=OnboardInputSerializer, responses=inline_serializer("Onboarded", {
        "campaign": serializers.IntegerField(), "campaign_name": serializers.CharField(),
        "strategy": serializers.CharField(), "pushed": serializers.IntegerField(),
        "picked": serializers.ListField(child=serializers.IntegerField())}))
    def post(self, request, generator_id: int):
        generator = get_or_404(generator_get(generator_id=generator_id), "generator")
        data = self.OnboardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(generator_onboard(generator=generator, **data.validated_data))


class ModelTrainApi(APIView):
    """Admins: queue a segmenter training now — on a campaign's training data (as its retraining policy
    would), or on a dataset / dataset version. The candidate is promoted only if it passes the promotion gate."""

    class TrainInputSerializer(serializers.Serializer):
        campaign = serializers.IntegerField(required=False)
        dataset = serializers.IntegerField(required=False)
        dataset_version = serializers.IntegerField(required=False)
        max_iters = serializers.IntegerField(required=False, min_value=1, max_value=200_000)
        replay_images = serializers.IntegerField(
            required=False, min_value=0, max_value=100_000,
            help_text="Segmenter fine-tunes: this many of the production model's own training images join the "
                      "train split (rehearsal; a campaign's default is its retrain policy's replay_images).")
        kind = serializers.ChoiceField(choices=ModelVersion.Kind.values, default=ModelVersion.Kind.SEGMENTER,
                                       help_text="With dataset / dataset_version: which model to train. A campaign "
                                                 "retrains both (the VLM when VLM_BASE_MODEL is set).")

        def validate(self, attrs):
            given = [k for k in ("campaign", "dataset", "dataset_version") if k in attrs]
            if len(given) != 1:
                raise serializers.ValidationError("give exactly one of campaign, dataset, dataset_version")
            return attrs

    @extend_schema(request=TrainInputSerializer, responses={202: inline_serializer(
        "TrainQueued", {"job": serializers.IntegerField(), "created": serializers.BooleanField()}),
        404: OpenApiTypes.OBJECT})  # the campaign, dataset or version named in the body does not exist
    def post(self, request):
        data = self.TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        if "campaign" in args:
            campaign = get_or_404(campaign_get(campaign_id=args["campaign"]), "campaign")
            decision = campaign_retrain_maybe(campaign=campaign, force=True, created_by=request.user,
                                              max_iters=args.get("max_iters"), replay_images=args.get("replay_images"))
            job, created = decision.job, decision.created
        else:
            job, created = model_train_enqueue(
                kind=args["kind"], created_by=request.user, max_iters=args.get("max_iters"),
                replay_images=args.get("replay_images"),
                dataset=get_or_404(dataset_get(dataset_id=args["dataset"]), "dataset") if "dataset" in args else None,
                dataset_version=(get_or_404(dataset_version_get(version_id=args["dataset_version"]), "dataset version")
                                 if "dataset_version" in args else None))
        return Response({"job": job.pk, "created": created}, status=202)
