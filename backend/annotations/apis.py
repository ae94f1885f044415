import json

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from backend.annotations.masks import mask_canonicalize
from backend.annotations.models import Annotation
from backend.annotations.selectors import annotation_get, annotation_list_for_image
from backend.annotations.services import RegionInput, annotation_create, region_inputs
from backend.core.api import get_or_404, paginated_response, upload_read
from backend.core.blobs import blob_open
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.images.selectors import image_get
from backend.images.validation import Rejected


class RegionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bbox = serializers.SerializerMethodField(help_text="[x1, y1, x2, y2] in pixels")
    artifact_class = serializers.CharField(source="artifact_class.slug")
    artifact_class_code = serializers.CharField(source="artifact_class.code")
    caption = serializers.CharField()
    mask_id = serializers.IntegerField(allow_null=True)

    def get_bbox(self, obj) -> list[float]:
        return [obj.x1, obj.y1, obj.x2, obj.y2]


class MaskOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sha256 = serializers.CharField(source="blob_id")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    artifact_pixels = serializers.IntegerField()
    par = serializers.FloatField()


class AnnotationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image_id = serializers.IntegerField()
    source = serializers.CharField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    model_version = serializers.CharField(allow_null=True, default=None)
    status = serializers.CharField()
    lead_time = serializers.FloatField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    no_artifacts = serializers.BooleanField()
    is_current = serializers.BooleanField()
    previous_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    masks = MaskOutputSerializer(many=True)
    regions = RegionOutputSerializer(many=True)
    mask_url = serializers.SerializerMethodField()

    def get_mask_url(self, obj) -> str | None:
        if not obj.masks.all():
            return None
        return reverse("annotation-mask", kwargs={"annotation_id": obj.pk}, request=self.context.get("request"))


class RegionInputSerializer(serializers.Serializer):
    bbox = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4,
                                 help_text="[x1, y1, x2, y2] in pixels")
    artifact_class = serializers.CharField(help_text="Class slug or SynArtifact code in the current taxonomy.")
    caption = serializers.CharField(required=False, allow_blank=True, default="")


class AnnotationWriteSerializer(serializers.Serializer):
    """Fields shared by the JSON create and the multipart mask upload."""

    status = serializers.ChoiceField(choices=Annotation.Status.choices, default=Annotation.Status.SUBMITTED,
                                     help_text="reviewed: reviewers and admins only (403 otherwise).")
    lead_time = serializers.FloatField(required=False, allow_null=True, min_value=0, default=None)
    started_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    no_artifacts = serializers.BooleanField(default=False)
    replaces = serializers.IntegerField(required=False, allow_null=True, default=None,
                                        help_text="Id of the current annotation this one replaces (kept as history). "
                                                  "Annotators replace only their own passes (403 otherwise).")
    regions = RegionInputSerializer(many=True, required=False, default=list)


def _resolve_regions(regions: list[dict]) -> list[RegionInput]:
    return region_inputs((r["artifact_class"], r["bbox"], r.get("caption", "")) for r in regions)


def _create_from(request, image, fields: dict, mask=None) -> Annotation:
    replaces = None
    if fields.get("replaces") is not None:
        replaces = get_or_404(annotation_get(annotation_id=fields["replaces"]), "replaced annotation")
    return annotation_create(
        image=image, user=request.user, mask=mask, regions=_resolve_regions(fields["regions"]),
        status=fields["status"], lead_time=fields["lead_time"], started_at=fields["started_at"],
        no_artifacts=fields["no_artifacts"], replaces=replaces, requested_by=request.user,
    )


def _annotation_response(request, annotation_id: int, code: int) -> Response:
    annotation = annotation_get(annotation_id=annotation_id)
    return Response(AnnotationOutputSerializer(annotation, context={"request": request}).data, status=code)


class ImageAnnotationListApi(APIView):
    write_role = Role.ANNOTATOR
    parser_classes = [JSONParser]

    @extend_schema(
        parameters=[OpenApiParameter("history", bool, description="Include replaced annotations.")],
        responses=AnnotationOutputSerializer(many=True),
    )
    def get(self, request, image_id: int):
        get_or_404(image_get(image_id=image_id), "image")
        history = request.query_params.get("history") in ("1", "true", "True")
        qs = annotation_list_for_image(image_id=image_id, include_history=history)
        return paginated_response(queryset=qs, serializer_class=AnnotationOutputSerializer,
                                  request=request, view=self)

    @extend_schema(request=AnnotationWriteSerializer, responses={201: AnnotationOutputSerializer})
    def post(self, request, image_id: int):
        image = get_or_404(image_get(image_id=image_id), "image")
        data = AnnotationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = _create_from(request, image, data.validated_data)
        return _annotation_response(request, annotation.pk, status.HTTP_201_CREATED)


class ImageMaskCreateApi(APIView):
    """Upload a human mask (0/1 or 0/255 PNG, same size as the image) as a new annotation."""

    write_role = Role.ANNOTATOR
    parser_classes = [MultiPartParser, FormParser]
    request_body_limit = "FLAWMAP_MAX_UPLOAD_BYTES"  # the mask file (backend/core/request_limits.py)

    class MaskUploadInputSerializer(AnnotationWriteSerializer):
        file = serializers.FileField()
        regions = serializers.CharField(required=False, default="[]", help_text="JSON list of regions.")

    @extend_schema(request={"multipart/form-data": MaskUploadInputSerializer},
                   responses={201: AnnotationOutputSerializer})
    def post(self, request, image_id: int):
        image = get_or_404(image_get(image_id=image_id), "image")
        data = self.MaskUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            regions = RegionInputSerializer(data=json.loads(fields["regions"]), many=True)
        except json.JSONDecodeError as exc:
            raise ApplicationError(f"regions is not valid JSON: {exc.msg}") from exc
        regions.is_valid(raise_exception=True)
        fields["regions"] = regions.validated_data
        upload = fields.pop("file")
        try:
            mask = mask_canonicalize(upload_read(upload), width=image.width, height=image.height)
        except Rejected as exc:
            raise ApplicationError(f"{upload.name}: {exc}") from exc
        annotation = _create_from(request, image, fields, mask=mask)
        return _annotation_response(request, annotation.pk, status.HTTP_201_CREATED)


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutputSerializer)
    def get(self, request, annotation_id: int):
        get_or_404(annotation_get(annotation_id=annotation_id), "annotation")
        return _annotation_response(request, annotation_id, status.HTTP_200_OK)


class AnnotationMaskApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, annotation_id: int):
        annotation = get_or_404(annotation_get(annotation_id=annotation_id), "annotation")
        mask = get_or_404(next(iter(annotation.masks.all()), None), "mask of this annotation")
        return FileResponse(blob_open(mask.blob), content_type="image/png")
