import json

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from backend.core.api import get_or_404, paginated_response, upload_read
from backend.core.blobs import blob_open
from backend.core.exceptions import ApplicationError
from backend.core.pagination import PageOrCursorPagination
from backend.images.batch import images_ingest_batch
from backend.images.models import ConditionalInput, Generator
from backend.images.selectors import (
    ORDERINGS,
    conditional_input_get,
    generator_get,
    generator_list,
    image_get,
    image_list,
    image_with_blob_get,
    task_list,
)
from backend.images.services import (
    ConditionalFile,
    IngestItem,
    generator_create,
    generator_resolve,
    image_delete,
    task_create,
    task_resolve,
)


class GeneratorOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Generator
        fields = ["id", "name", "version", "family", "metadata", "created_at"]


class GeneratorListApi(APIView):
    class GeneratorCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        version = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
        family = serializers.ChoiceField(choices=Generator.Family.choices, default=Generator.Family.OTHER)
        metadata = serializers.JSONField(required=False, default=dict)

    @extend_schema(responses=GeneratorOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=generator_list(), serializer_class=GeneratorOutputSerializer,
                                  request=request, view=self)

    @extend_schema(request=GeneratorCreateInputSerializer, responses={201: GeneratorOutputSerializer})
    def post(self, request):
        data = self.GeneratorCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        generator = generator_create(**data.validated_data)
        return Response(GeneratorOutputSerializer(generator).data, status=status.HTTP_201_CREATED)


class GeneratorDetailApi(APIView):
    @extend_schema(responses=GeneratorOutputSerializer)
    def get(self, request, generator_id: int):
        generator = get_or_404(generator_get(generator_id=generator_id), "generator")
        return Response(GeneratorOutputSerializer(generator).data)


class TaskListApi(APIView):
    class TaskOutputSerializer(serializers.Serializer):
        slug = serializers.SlugField()
        name = serializers.CharField()
        description = serializers.CharField()
        is_conditional = serializers.BooleanField()

    class TaskCreateInputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=60)
        name = serializers.CharField(max_length=120)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        is_conditional = serializers.BooleanField(default=False)

    @extend_schema(responses=TaskOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=task_list(), serializer_class=self.TaskOutputSerializer,
                                  request=request, view=self)

    @extend_schema(request=TaskCreateInputSerializer, responses={201: TaskOutputSerializer})
    def post(self, request):
        data = self.TaskCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = task_create(**data.validated_data)
        return Response(self.TaskOutputSerializer(task).data, status=status.HTTP_201_CREATED)


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sha256 = serializers.CharField(source="blob_id")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    generator = inline_serializer(
        "ImageGenerator", {"id": serializers.IntegerField(), "name": serializers.CharField(),
                           "version": serializers.CharField()}
    )
    task = serializers.CharField(source="task.slug")
    prompt = serializers.CharField()
    seed = serializers.IntegerField(allow_null=True)
    domain = serializers.CharField()
    source_uri = serializers.CharField()
    original_name = serializers.CharField()
    metadata = serializers.JSONField()
    created_at = serializers.DateTimeField()
    par = serializers.FloatField(allow_null=True)
    par_source = serializers.CharField()
    is_labelled = serializers.BooleanField()
    # Set on images the fix job made (POST /api/images/{id}/fix): the source and the segmenter's PAR before/after.
    fixed_from = serializers.IntegerField(source="fixed_from_id", allow_null=True)
    fix_par_before = serializers.FloatField(allow_null=True)
    fix_par_after = serializers.FloatField(allow_null=True)
    file_url = serializers.SerializerMethodField()

    def get_file_url(self, obj) -> str:
        return reverse("image-file", kwargs={"image_id": obj.pk}, request=self.context.get("request"))


class ConditionalInputOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    sha256 = serializers.CharField(source="blob_id")
    original_name = serializers.CharField()
    file_url = serializers.SerializerMethodField()

    def get_file_url(self, obj) -> str:
        return reverse("image-conditional-input-file", kwargs={"image_id": obj.image_id, "input_id": obj.pk},
                       request=self.context.get("request"))


class ImageDetailOutputSerializer(ImageOutputSerializer):
    conditional_inputs = ConditionalInputOutputSerializer(many=True)
    fixes = serializers.SerializerMethodField(help_text="Ids of the images fixed from this one.")

    def get_fixes(self, obj) -> list[int]:
        return [fixed.pk for fixed in obj.fixes.all()]


IMAGE_FILTER_PARAMETERS = [
    OpenApiParameter("generator", int, many=True, description="Generator id (repeatable)."),
    OpenApiParameter("generator_name", str),
    OpenApiParameter("task", str, many=True, description="Synthesis task slug (repeatable)."),
    OpenApiParameter("labelled", bool, description="Has a submitted or reviewed human annotation."),
    OpenApiParameter("par_min", float), OpenApiParameter("par_max", float),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME), OpenApiParameter("created_before", OpenApiTypes.DATETIME),
    OpenApiParameter("domain", str), OpenApiParameter("sha256", str),
    OpenApiParameter("ordering", str, enum=list(ORDERINGS)),
    OpenApiParameter("page", int), OpenApiParameter("page_size", int),
    OpenApiParameter("cursor", str, description=(
        "Keyset pagination instead of `page`: empty for the first page, then the `cursor` of `next` or `previous`. "
        "A deep page costs what the first does; the answer has no `count`; `ordering` may be id or created_at "
        "(either way), not par.")),
]

# The keysets cursor pagination walks: an indexed, never-null first field (id breaks created_at's ties).
IMAGE_CURSOR_ORDERINGS = {"-created_at": ("-created_at", "-id"), "created_at": ("created_at", "id"),
                          "-id": ("-id",), "id": ("id",)}


class ImagePagination(PageOrCursorPagination):
    def __init__(self):
        super().__init__(orderings=IMAGE_CURSOR_ORDERINGS, default="-created_at")


class ImageListApi(APIView):
    """List images (filters, ordering by PAR) or ingest new ones (multipart)."""

    parser_classes = [MultiPartParser, FormParser]
    request_body_limit = "FLAWMAP_MAX_UPLOAD_BYTES"  # all files of one ingest (backend/core/request_limits.py)

    class ImageIngestInputSerializer(serializers.Serializer):
        files = serializers.ListField(child=serializers.FileField(), min_length=1)
        generator = serializers.CharField(help_text="Generator id or name.")
        generator_version = serializers.CharField(required=False, allow_blank=True)
        task = serializers.SlugField(help_text="Synthesis task slug.")
        prompt = serializers.CharField(required=False, allow_blank=True, default="")
        seed = serializers.IntegerField(required=False, allow_null=True, default=None)
        domain = serializers.CharField(required=False, allow_blank=True, default="")
        source_uri = serializers.CharField(required=False, allow_blank=True, default="")
        metadata = serializers.JSONField(required=False, default=dict, help_text="JSON object for every file.")
        conditional_inputs = serializers.ListField(
            child=serializers.FileField(), required=False, default=list,
            help_text="Files the generator was conditioned on; roles in conditional_roles, same order.",
        )
        conditional_roles = serializers.ListField(
            child=serializers.ChoiceField(choices=ConditionalInput.Role.choices), required=False, default=list
        )

        def validate_metadata(self, value):
            if not isinstance(value, dict):
                raise serializers.ValidationError("metadata must be a JSON object")
            return value

        def validate(self, attrs):
            if len(attrs["conditional_inputs"]) != len(attrs["conditional_roles"]):
                raise serializers.ValidationError("give one conditional_roles entry per conditional_inputs file")
            if attrs["conditional_inputs"] and len(attrs["files"]) != 1:
                raise serializers.ValidationError("conditional inputs can only be sent with a single image file")
            return attrs

    pagination_class = ImagePagination

    @extend_schema(parameters=IMAGE_FILTER_PARAMETERS, responses=ImageOutputSerializer(many=True))
    def get(self, request):
        paginator = ImagePagination()
        if paginator.wants_cursor(request) and paginator.cursor_ordering(request) not in IMAGE_CURSOR_ORDERINGS:
            raise ApplicationError(f"ordering: with cursor, one of {', '.join(IMAGE_CURSOR_ORDERINGS)} "
                                   "(par has no keyset: page by number)")
        return paginated_response(queryset=image_list(filters=request.query_params),
                                  serializer_class=ImageOutputSerializer, request=request, view=self,
                                  paginator=paginator)

    @extend_schema(
        request={"multipart/form-data": ImageIngestInputSerializer},
        responses={
            201: inline_serializer("IngestReport", {
                "ingested": serializers.IntegerField(), "duplicates": serializers.IntegerField(),
                "rejected": serializers.ListField(child=serializers.DictField()),
                "images": serializers.ListField(child=serializers.IntegerField()),
            }),
        },
    )
    def post(self, request):
        data = self.ImageIngestInputSerializer(data=_multipart_lists(request.data, ("files", "conditional_inputs",
                                                                           "conditional_roles")))
        data.is_valid(raise_exception=True)
        v = data.validated_data
        generator_ref = v["generator"]
        if generator_ref.isascii() and generator_ref.isdigit():
            generator = generator_get(generator_id=int(generator_ref))
            if generator is None:  # a field of the body, not the URL: bad input (400), not a 404
                raise ApplicationError(f"generator: no generator with id {generator_ref}")
        else:
            generator = generator_resolve(name=generator_ref, version=v.get("generator_version"))
        task = task_resolve(slug=v["task"])
        conditionals = [
            ConditionalFile(role, f.name, upload_read(f))
            for f, role in zip(v["conditional_inputs"], v["conditional_roles"])
        ]
        items = [
            IngestItem(name=f.name, data=upload_read(f), prompt=v["prompt"], seed=v["seed"], domain=v["domain"],
                       source_uri=v["source_uri"], metadata=v["metadata"], conditional_inputs=conditionals)
            for f in v["files"]
        ]
        report = images_ingest_batch(items=items, generator=generator, task=task)
        body = {**report.as_dict(), "images": report.image_ids}
        if report.ingested:
            code = status.HTTP_201_CREATED
        elif report.duplicates:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_400_BAD_REQUEST
        return Response(body, status=code)


def _multipart_lists(data, list_fields):
    """QueryDict → plain dict keeping repeated multipart fields as lists (DRF's ListField needs that)."""
    if not hasattr(data, "getlist"):
        return data
    out = {key: data.get(key) for key in data.keys()}
    for key in list_fields:
        if key in data:
            out[key] = data.getlist(key)
    if "metadata" in out and isinstance(out["metadata"], str):
        try:
            out["metadata"] = json.loads(out["metadata"])
        except json.JSONDecodeError as exc:
            raise ApplicationError(f"metadata is not valid JSON: {exc.msg}") from exc
    return out


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageDetailOutputSerializer)
    def get(self, request, image_id: int):
        image = get_or_404(image_get(image_id=image_id), "image")
        return Response(ImageDetailOutputSerializer(image, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, image_id: int):
        image = get_or_404(image_get(image_id=image_id), "image")
        image_delete(image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFileApi(APIView):
    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, image_id: int):
        image = get_or_404(image_with_blob_get(image_id=image_id), "image")
        return FileResponse(blob_open(image.blob), content_type=image.blob.content_type)


class ConditionalInputFileApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, image_id: int, input_id: int):
        cond = get_or_404(conditional_input_get(image_id=image_id, input_id=input_id), "conditional input")
        return FileResponse(blob_open(cond.blob), content_type=cond.blob.content_type)

