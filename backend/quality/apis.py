from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from backend.core.api import get_or_404, query_int
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.images.selectors import image_get
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.selectors import model_production_get, model_version_get
from backend.quality.selectors import (
    GROUP_BY,
    SOURCES,
    best_of_n,
    best_of_n_grouped,
    fix_job_get,
    generator_leaderboard,
)
from backend.quality.services import fix_job_request

PAR_SOURCES_NOTE = (
    "PAR = artifact area / image area, lower is better. par_source per image: 'human' = from the newest "
    "submitted/reviewed human mask, 'model' = from a segmenter's mask (no human label yet)."
)


class BestOfNApi(APIView):
    """Pick the lowest-PAR image of each group of candidates (e.g. N samples of one prompt)."""

    write_role = Role.VIEWER  # a read: it changes nothing

    class BestOfNInputSerializer(serializers.Serializer):
        groups = serializers.ListField(
            child=serializers.ListField(child=serializers.IntegerField(), min_length=1), required=False,
            max_length=10_000, help_text="Groups of candidate image ids, e.g. [[1, 2, 3], [4, 5]].",
        )
        group_by = serializers.ChoiceField(choices=GROUP_BY, required=False,
                                           help_text="Instead of groups: group the images matching `filters`.")
        filters = serializers.DictField(required=False, default=dict,
                                        help_text="The filters of GET /api/images/ (generator, task, ...).")

        def validate(self, attrs):
            if ("groups" in attrs) == ("group_by" in attrs):
                raise serializers.ValidationError("give either groups (lists of image ids) or group_by")
            if "groups" in attrs and sum(len(g) for g in attrs["groups"]) > 100_000:
                raise serializers.ValidationError("at most 100000 image ids in all")
            return attrs

    _candidate = inline_serializer("BestOfNCandidate", {
        "id": serializers.IntegerField(), "par": serializers.FloatField(), "par_source": serializers.CharField()})

    @extend_schema(
        request=BestOfNInputSerializer,
        responses=inline_serializer("BestOfN", {
            "groups": inline_serializer("BestOfNGroup", {
                "key": serializers.CharField(allow_null=True), "best": _candidate, "candidates": _candidate,
                "unscored": serializers.ListField(child=serializers.IntegerField()),
                "par_sources": serializers.ListField(child=serializers.CharField()),
                "mixed_sources": serializers.BooleanField(),
            }, many=True),
            "scores": serializers.CharField(),
        }),
    )
    def post(self, request):
        data = self.BestOfNInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "groups" in v:
            groups = best_of_n(groups=v["groups"])
        else:
            groups = best_of_n_grouped(group_by=v["group_by"], filters=v["filters"])
        return Response({"groups": groups, "scores": PAR_SOURCES_NOTE})


class GeneratorLeaderboardApi(APIView):
    """Mean PAR per generator version and task, its 95 % CI and the share of artifact-free images. The CI is a
    percentile bootstrap, or mean ± 1.96·sd/√n for a group of more than `bootstrap_max_n` images: each row's
    `ci_method` says which ("bootstrap" or "normal")."""

    @extend_schema(
        parameters=[
            OpenApiParameter("source", str, enum=list(SOURCES),
                             description="human (default): human masks; model: a segmenter's masks."),
            OpenApiParameter("task", str, description="Only this synthesis task."),
            OpenApiParameter("model_version", int, description="source=model: whose masks (default: the "
                                                                 "production segmenter, else any model's newest)."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = request.query_params
        source = params.get("source", "human")
        if source not in SOURCES:
            raise ApplicationError(f"source must be one of {', '.join(SOURCES)}")
        model_version = None
        if source == "model":
            if params.get("model_version"):
                model_version = model_version_get(model_version_id=query_int(params, "model_version"))
                if model_version is None:
                    raise ApplicationError(f"no model version {params['model_version']}")
            else:
                model_version = model_production_get(kind=ModelVersion.Kind.SEGMENTER)
        body = generator_leaderboard(source=source, task=params.get("task") or None, model_version=model_version)
        if source == "human":
            body["scores"] = "PAR of the newest submitted/reviewed human mask of each image"
        else:
            who = str(model_version) if model_version else "the newest model mask of any model version"
            body["model_version"] = None if model_version is None else model_version.pk
            body["scores"] = f"PAR of the segmenter's mask: {who}"
        body["excluded"] = "fixed images (made by the fix job) are not a generator's output and are left out"
        return Response(body)


class FixJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending, running, done, failed or cancelled: the newest attempt's Job.")
    image = serializers.IntegerField(source="image_id")
    mode = serializers.CharField()
    backend = serializers.CharField()
    dilate = serializers.IntegerField()
    model_version = inline_serializer("FixJobModelVersion", {
        "id": serializers.IntegerField(), "name": serializers.CharField(), "version": serializers.CharField()})
    result = serializers.IntegerField(source="result_id", allow_null=True)
    result_url = serializers.SerializerMethodField()
    par_before = serializers.FloatField(allow_null=True)
    par_after = serializers.FloatField(allow_null=True)
    error = serializers.CharField(source="reason", help_text="Why it failed or was cancelled; empty otherwise.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    job = serializers.IntegerField(source="attempt.pk", help_text="The newest attempt's Job (progress, log, cancel).")
    job_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    def get_job_url(self, obj) -> str:
        return reverse("job-detail", kwargs={"job_id": obj.attempt.pk}, request=self.context.get("request"))

    def get_result_url(self, obj) -> str | None:
        if obj.result_id is None:
            return None
        return reverse("image-detail", kwargs={"image_id": obj.result_id}, request=self.context.get("request"))

    def get_url(self, obj) -> str:
        return reverse("fix-job-detail", kwargs={"job_id": obj.pk}, request=self.context.get("request"))


class ImageFixApi(APIView):
    """Queue a job that fixes the image's artifacts: the production segmenter finds them, an inpainter fills
    them (zoom-in crops by default), and the result becomes a new image linked to this one. Poll the job."""

    write_role = Role.ANNOTATOR

    class ImageFixInputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(choices=["zoom", "whole"], default="zoom")
        backend = serializers.CharField(required=False, help_text="Default FLAWMAP_FIX_BACKEND (opencv-telea).")
        dilate = serializers.IntegerField(required=False, min_value=0, max_value=128,
                                          help_text="Mask dilation in pixels (default FLAWMAP_FIX_DILATE).")

    @extend_schema(request=ImageFixInputSerializer, responses={202: FixJobOutputSerializer})
    def post(self, request, image_id: int):
        image = get_or_404(image_get(image_id=image_id), "image")
        data = self.ImageFixInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = fix_job_request(image=image, requested_by=request.user, **data.validated_data)
        # Without a broker the job has already run, in-process, on commit: read its state afresh.
        job = fix_job_get(fix_job_id=job.pk)
        return Response(FixJobOutputSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class FixJobDetailApi(APIView):
    @extend_schema(responses=FixJobOutputSerializer)
    def get(self, request, job_id: int):
        job = get_or_404(fix_job_get(fix_job_id=job_id), "fix job")
        return Response(FixJobOutputSerializer(job, context={"request": request}).data)
