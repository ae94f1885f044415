from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.core.api import paginated_response
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.core.throttles import ScopedThrottle
from backend.mlmodels.models import ModelVersion
from backend.mlmodels.reward import BadImage, RewardInput, check_limits, rewards_compute
from backend.mlmodels.selectors import model_version_list, routing_table
from backend.mlmodels.services import model_promote


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    scope = serializers.CharField()
    config_name = serializers.CharField()
    config_trusted = serializers.BooleanField()  # an admin admitted a config not shipped with Flawmap
    checkpoint_sha256 = serializers.CharField(source="checkpoint.sha256", default=None, allow_null=True)
    checkpoint_size = serializers.IntegerField(source="checkpoint.size", default=None, allow_null=True)
    metrics = serializers.JSONField()
    dataset_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    promoted_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)

    def get_dataset_version(self, obj) -> dict | None:
        return obj.trained_on or None


MODEL_LIST_PARAMETERS = [
    OpenApiParameter("kind", str, enum=ModelVersion.Kind.values),
    OpenApiParameter("status", str, enum=ModelVersion.Status.values),
]


class ModelVersionListApi(APIView):
    # An app above the registry shows more per model (datasets: the benchmark scores) by subclassing with its own
    # serializer and queryset; the registry imports none of them.
    output_serializer = ModelVersionOutputSerializer

    def models(self, **filters):
        return model_version_list(**filters)

    @extend_schema(parameters=MODEL_LIST_PARAMETERS, responses=ModelVersionOutputSerializer(many=True))
    def get(self, request):
        kind, status = request.query_params.get("kind"), request.query_params.get("status")
        if kind and kind not in ModelVersion.Kind.values:
            raise ApplicationError(f"kind must be one of {', '.join(ModelVersion.Kind.values)}")
        if status and status not in ModelVersion.Status.values:
            raise ApplicationError(f"status must be one of {', '.join(ModelVersion.Status.values)}")
        return paginated_response(queryset=self.models(kind=kind, status=status),
                                  serializer_class=self.output_serializer, request=request, view=self)


class ModelVersionDetailApi(APIView):
    output_serializer = ModelVersionOutputSerializer  # see ModelVersionListApi

    def models(self):
        return model_version_list()

    @extend_schema(responses=ModelVersionOutputSerializer)
    def get(self, request, model_id: int):
        model = get_object_or_404(self.models(), pk=model_id)
        return Response(self.output_serializer(model).data)


class ModelRoutingApi(APIView):
    """Which production model serves which scope. An image is served by its generator's specialist
    (generator:<name>), else its task's (task:<slug>), else the unified model; `images` counts the stored images
    each one serves now. Pre-labels, `rank`, best-of-N (through the pre-labels' PAR) and the reward use it."""

    pagination_class = None  # one row per production model, answered whole (backend/core/schema.py reads this)

    class RoutingOutputSerializer(serializers.Serializer):
        kind = serializers.CharField()
        scope = serializers.CharField()
        images = serializers.IntegerField()
        model = inline_serializer("RoutedModel", {
            "id": serializers.IntegerField(), "name": serializers.CharField(), "version": serializers.CharField(),
            "promoted_at": serializers.DateTimeField(allow_null=True)})

    @extend_schema(parameters=[OpenApiParameter("kind", str, enum=ModelVersion.Kind.values)],
                   responses=RoutingOutputSerializer(many=True))
    def get(self, request):
        kind = request.query_params.get("kind")
        if kind and kind not in ModelVersion.Kind.values:
            raise ApplicationError(f"kind must be one of {', '.join(ModelVersion.Kind.values)}")
        return Response(self.RoutingOutputSerializer(routing_table(kind=kind or None), many=True).data)


class ModelVersionPromoteApi(APIView):
    """Admins: make this version the production model of its kind and scope (the previous one of that scope
    retires). An admin's override of the promotion gate, stored as a manual promotion; also how a rollback is done."""

    @extend_schema(request=None, responses=ModelVersionOutputSerializer)
    def post(self, request, model_id: int):
        model = model_promote(model_version=get_object_or_404(ModelVersion, pk=model_id))
        return Response(ModelVersionOutputSerializer(model_version_list().get(pk=model.pk)).data)


class RewardApi(APIView):
    """Reward for generator fine-tuning (DDPO-style): per image PAR (production segmenter), the artifact
    classes the production VLM classifier finds, and reward = clip(1 - PAR - REWARD_LAMBDA * sum of the found
    artifacts' severity weights, -1, 1). multipart/form-data: `images` (one file per image, repeated, in
    batch order) and optionally `prompts` (one per image, same order; echoed back). Limits: REWARD_MAX_IMAGES
    images, REWARD_MAX_BYTES bytes and REWARD_MAX_TOTAL_PIXELS pixels per request (413), REWARD_MAX_PIXELS per
    image (400); FLAWMAP_THROTTLE_REWARD requests per user (429). A bad image is a 400 naming its index and file
    name. 503 while there is no production segmenter or VLM, and when no inference worker answers within
    FLAWMAP_INFERENCE_TIMEOUT_SECONDS: the models run on the inference worker (`make inference-worker`), never in
    the web process; concurrent requests are batched together there. Nothing is stored."""

    write_role = Role.VIEWER  # a read: nothing is written
    request_body_limit = "REWARD_MAX_BYTES"  # a larger body is a 413 before it is read (backend/core/request_limits.py)
    throttle_classes = [ScopedThrottle]  # FLAWMAP_THROTTLE_REWARD per user: each call runs two models
    throttle_scope = "reward"

    class RewardInputSerializer(serializers.Serializer):
        images = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
        prompts = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                        required=False, help_text="One per image, in the same order.")
        generator = serializers.CharField(required=False, allow_blank=True, max_length=120,
                                          help_text="Generator name of the batch: its specialists score it.")
        task = serializers.CharField(required=False, allow_blank=True, max_length=60,
                                     help_text="Synthesis task slug of the batch: its specialists score it.")

    class RewardOutputSerializer(serializers.Serializer):
        results = inline_serializer("RewardResult", {
            "index": serializers.IntegerField(), "name": serializers.CharField(), "prompt": serializers.CharField(),
            "par": serializers.FloatField(), "artifact_classes": serializers.ListField(child=serializers.CharField()),
            "artifacts": inline_serializer("RewardArtifact", {
                "class": serializers.CharField(), "bbox": serializers.ListField(child=serializers.IntegerField()),
                "caption": serializers.CharField()}, many=True),
            "vlm_malformed": serializers.BooleanField(), "reward": serializers.FloatField()}, many=True)
        formula = serializers.CharField()
        models = serializers.DictField(child=serializers.CharField())
        scopes = serializers.DictField(child=serializers.CharField(), help_text="The scope each model serves.")

    @extend_schema(request={"multipart/form-data": RewardInputSerializer},
                   responses={200: RewardOutputSerializer, 400: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT,
                              503: OpenApiTypes.OBJECT})
    def post(self, request):
        files = request.FILES.getlist("images")
        # Limits first, before reading every file into memory or validating anything else.
        check_limits(count=len(files), total_bytes=sum(f.size or 0 for f in files))
        data = self.RewardInputSerializer(data={"images": files, "prompts": request.data.getlist("prompts"),
                                                **{k: request.data[k] for k in ("generator", "task")
                                                   if k in request.data}}
                                          if hasattr(request.data, "getlist") else request.data)
        data.is_valid(raise_exception=True)
        prompts = data.validated_data.get("prompts") or []
        if prompts and len(prompts) != len(files):
            raise ApplicationError(f"{len(prompts)} prompts for {len(files)} images: give one per image or none")
        items = [RewardInput(name=f.name or f"image {i}", data=f.read(), prompt=prompts[i] if prompts else "")
                 for i, f in enumerate(files)]
        try:
            return Response(rewards_compute(items=items, generator=data.validated_data.get("generator") or None,
                                            task=data.validated_data.get("task") or None))
        except BadImage as exc:  # answered here so index stays a number (DRF's errors turn values into text)
            return Response({"detail": exc.message, "index": exc.index, "name": exc.name}, status=400)
