"""Benchmarks over the API: the list, and the model registry's list and detail with each model's scores (the
registry sits below this app, so the score table is added here; backend/config/urls.py routes models/ here)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from backend.core.api import paginated_response
from backend.mlmodels.apis import (
    MODEL_LIST_PARAMETERS,
    ModelVersionDetailApi,
    ModelVersionListApi,
    ModelVersionOutputSerializer,
)
from datasets.selectors import benchmark_list, with_benchmark_scores


def _interval(help_text: str, **kwargs):
    return serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True,
                                 help_text=help_text, **kwargs)


class BenchmarkScoreGroupOutputSerializer(serializers.Serializer):
    """A task's or a generator's part of a score."""

    iou = serializers.FloatField(allow_null=True)
    iou_ci = _interval("95 % bootstrap interval [low, high] of the IoU over this group's images")
    f1 = serializers.FloatField(allow_null=True)
    f1_ci = _interval("95 % bootstrap interval of the F1")
    n = serializers.IntegerField(help_text="images in the group")


class BenchmarkScoreOutputSerializer(serializers.Serializer):
    benchmark = serializers.IntegerField(source="benchmark_id")
    scope = serializers.CharField(source="benchmark.scope")
    name = serializers.CharField(source="benchmark.name")
    iou = serializers.FloatField(source="metrics.iou", allow_null=True,
                                 help_text="artifact IoU: the images' intersections summed over their unions summed "
                                           "(None when no image holds an artifact, labelled or predicted)")
    iou_ci = _interval("95 % bootstrap interval [low, high] of the IoU, resampling images (1000 draws, seed 0)",
                       source="metrics.iou_ci")
    f1 = serializers.FloatField(source="metrics.f1", allow_null=True, help_text="pixel F1 of the artifact class")
    f1_ci = _interval("95 % bootstrap interval of the F1", source="metrics.f1_ci")
    n_images = serializers.IntegerField(source="metrics.n_images")
    per_task = serializers.DictField(source="metrics.per_task", child=BenchmarkScoreGroupOutputSerializer())
    per_generator = serializers.DictField(source="metrics.per_generator", child=BenchmarkScoreGroupOutputSerializer())
    created_at = serializers.DateTimeField()


class ModelVersionScoredOutputSerializer(ModelVersionOutputSerializer):
    benchmarks = BenchmarkScoreOutputSerializer(source="benchmark_scores", many=True,
                                                help_text="Its score on every benchmark it has been scored on.")


class ModelVersionScoredListApi(ModelVersionListApi):
    """Model versions, each with its benchmark scores."""

    output_serializer = ModelVersionScoredOutputSerializer

    def models(self, **filters):
        return with_benchmark_scores(super().models(**filters))

    @extend_schema(parameters=MODEL_LIST_PARAMETERS, responses=ModelVersionScoredOutputSerializer(many=True))
    def get(self, request):
        return super().get(request)


class ModelVersionScoredDetailApi(ModelVersionDetailApi):
    """A model version with its benchmark scores."""

    output_serializer = ModelVersionScoredOutputSerializer

    def models(self):
        return with_benchmark_scores(super().models())

    @extend_schema(responses=ModelVersionScoredOutputSerializer)
    def get(self, request, model_id: int):
        return super().get(request, model_id)


class BenchmarkOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.CharField()
    name = serializers.CharField()
    n_images = serializers.IntegerField()
    min_images = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class BenchmarkListApi(APIView):
    """Frozen test sets (manage.py benchmark_create), newest first within a scope."""

    @extend_schema(responses=BenchmarkOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=benchmark_list(), serializer_class=BenchmarkOutputSerializer,
                                  request=request, view=self)
