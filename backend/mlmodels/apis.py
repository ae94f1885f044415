from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.core.api import paginated_response
from backend.core.exceptions import ApplicationError
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import model_version_list
from backend.mlmodels.services import model_promote


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    config_name = serializers.CharField()
    checkpoint_sha256 = serializers.CharField(source="checkpoint.sha256", default=None)
    checkpoint_size = serializers.IntegerField(source="checkpoint.size", default=None)
    metrics = serializers.JSONField()
    dataset_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField()

    def get_dataset_version(self, obj) -> dict | None:
        dv = obj.dataset_version
        return None if dv is None else {"dataset": dv.dataset.name, "number": dv.number, "id": dv.pk}


class ModelVersionListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=ModelVersion.Kind.values),
            OpenApiParameter("status", str, enum=ModelVersion.Status.values),
        ],
        responses=ModelVersionOutputSerializer(many=True),
    )
    def get(self, request):
        kind, status = request.query_params.get("kind"), request.query_params.get("status")
        if kind and kind not in ModelVersion.Kind.values:
            raise ApplicationError(f"kind must be one of {', '.join(ModelVersion.Kind.values)}")
        if status and status not in ModelVersion.Status.values:
            raise ApplicationError(f"status must be one of {', '.join(ModelVersion.Status.values)}")
        return paginated_response(queryset=model_version_list(kind=kind, status=status),
                                  serializer_class=ModelVersionOutputSerializer, request=request, view=self)


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionOutputSerializer)
    def get(self, request, model_id: int):
        model = get_object_or_404(model_version_list(), pk=model_id)
        return Response(ModelVersionOutputSerializer(model).data)


class ModelVersionPromoteApi(APIView):
    """Admins: make this version the production model of its kind (the previous one retires)."""

    @extend_schema(request=None, responses=ModelVersionOutputSerializer)
    def post(self, request, model_id: int):
        model = model_promote(model_version=get_object_or_404(ModelVersion, pk=model_id))
        return Response(ModelVersionOutputSerializer(model_version_list().get(pk=model.pk)).data)


class ModelTrainApi(APIView):
    """Admins: queue a segmenter training now — on a campaign's training data (as its retraining policy
    would), or on a dataset / dataset version. The candidate is promoted only if it beats production."""

    class TrainInputSerializer(serializers.Serializer):
        campaign = serializers.IntegerField(required=False)
        dataset = serializers.IntegerField(required=False)
        dataset_version = serializers.IntegerField(required=False)
        max_iters = serializers.IntegerField(required=False, min_value=1, max_value=200_000)

        def validate(self, attrs):
            given = [k for k in ("campaign", "dataset", "dataset_version") if k in attrs]
            if len(given) != 1:
                raise serializers.ValidationError("give exactly one of campaign, dataset, dataset_version")
            return attrs

    @extend_schema(request=TrainInputSerializer, responses={202: inline_serializer(
        "TrainQueued", {"job": serializers.IntegerField(), "created": serializers.BooleanField()})})
    def post(self, request):
        from annotator.models import Campaign
        from annotator.services.learning import campaign_retrain_maybe
        from backend.jobs.services import job_create
        from datasets.models import Dataset, DatasetVersion

        data = self.TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        if "campaign" in args:
            campaign = get_object_or_404(Campaign, pk=args["campaign"])
            decision = campaign_retrain_maybe(campaign=campaign, force=True, created_by=request.user,
                                              max_iters=args.get("max_iters"))
            job, created = decision.job, decision.created
        else:
            params = {k: v for k, v in (("max_iters", args.get("max_iters")),) if v}
            if "dataset" in args:
                params["dataset_id"] = get_object_or_404(Dataset, pk=args["dataset"]).pk
            else:
                version = get_object_or_404(DatasetVersion, pk=args["dataset_version"])
                if version.status != DatasetVersion.Status.READY:
                    raise ApplicationError(f"{version} is not complete")
                params["dataset_version_id"] = version.pk
            key = f"train:dataset:{params.get('dataset_id') or 'v' + str(params.get('dataset_version_id'))}"
            job, created = job_create(kind="train_segmenter", params=params, dedupe_key=key, created_by=request.user)
        return Response({"job": job.pk, "created": created}, status=202)
