from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from backend.core.api import get_or_404, paginated_response
from backend.core.blobs import blob_download_url, blob_open
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.images.selectors import generator_list, task_list
from datasets.export_paths import export_path_inside
from datasets.exporters import EXPORTERS
from datasets.models import DATASET_NAME_MAX_LENGTH, Dataset, DatasetVersion, Export, dataset_name_validator
from datasets.selectors import (
    dataset_get,
    dataset_list,
    export_get,
    version_diff,
    version_get,
    version_item_list,
    version_list,
)
from datasets.services import dataset_create, dataset_version_delete, dataset_version_snapshot, export_request
from datasets.splits import share_deviation


class DatasetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    generators = serializers.SerializerMethodField()
    tasks = serializers.SerializerMethodField()
    created_after = serializers.DateTimeField(allow_null=True)
    created_before = serializers.DateTimeField(allow_null=True)
    label_status = serializers.CharField()
    classes = serializers.ListField(child=serializers.CharField())
    label_policy = serializers.CharField()
    group_key = serializers.CharField()
    splits = serializers.DictField(child=serializers.FloatField())
    created_at = serializers.DateTimeField()

    def get_generators(self, obj) -> list[int]:
        return [g.pk for g in obj.generators.all()]

    def get_tasks(self, obj) -> list[str]:
        return [t.slug for t in obj.tasks.all()]


class VersionOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField()
    parent = serializers.IntegerField(source="parent.number", allow_null=True, default=None)
    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    note = serializers.CharField()
    manifest_hash = serializers.CharField()
    counts = serializers.JSONField()
    split_deviation = serializers.SerializerMethodField(
        help_text="Actual minus target share per split (0.012 = 1.2 points over target); empty while building.")
    created_at = serializers.DateTimeField()

    def get_split_deviation(self, obj) -> dict[str, float]:
        counts = obj.counts or {}  # versions built before it was stored: the same figure from their counts
        return counts.get("split_deviation") or share_deviation(counts.get("splits", {}), obj.dataset.splits)


class DatasetListApi(APIView):
    class DatasetCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=DATASET_NAME_MAX_LENGTH, validators=[dataset_name_validator],
                                     help_text="A slug: lowercase letters, digits, '-' and '_'.")
        description = serializers.CharField(required=False, allow_blank=True, default="")
        generators = serializers.PrimaryKeyRelatedField(queryset=generator_list(), many=True, required=False,
                                                        default=list)
        tasks = serializers.SlugRelatedField(slug_field="slug", queryset=task_list(), many=True,
                                             required=False, default=list)
        created_after = serializers.DateTimeField(required=False, allow_null=True, default=None)
        created_before = serializers.DateTimeField(required=False, allow_null=True, default=None)
        label_status = serializers.ChoiceField(choices=Dataset.LabelStatus.choices,
                                               default=Dataset.LabelStatus.LABELLED)
        classes = serializers.ListField(child=serializers.SlugField(), required=False, default=list)
        label_policy = serializers.ChoiceField(choices=Dataset.LabelPolicy.choices,
                                               default=Dataset.LabelPolicy.LATEST_HUMAN)
        group_key = serializers.ChoiceField(choices=Dataset.GroupKey.choices, default=Dataset.GroupKey.IMAGE)
        splits = serializers.DictField(child=serializers.FloatField(), required=False, allow_null=True, default=None)

    @extend_schema(responses=DatasetOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=dataset_list(), serializer_class=DatasetOutputSerializer, request=request,
                                  view=self)

    @extend_schema(request=DatasetCreateInputSerializer, responses={201: DatasetOutputSerializer})
    def post(self, request):
        data = self.DatasetCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_create(**data.validated_data, created_by=request.user)
        return Response(DatasetOutputSerializer(dataset_list().get(pk=dataset.pk)).data, status=status.HTTP_201_CREATED)


def _dataset(dataset_id: int) -> Dataset:
    return get_or_404(dataset_get(dataset_id=dataset_id), "dataset")


def _version(dataset_id: int, number: int, *, ready: bool = True) -> DatasetVersion:
    _dataset(dataset_id)  # an unknown dataset says so, not "version not found"
    return get_or_404(version_get(dataset_id=dataset_id, number=number, ready=ready), "dataset version")


class DatasetVersionListApi(APIView):
    """Versions of a dataset; POST (admins) snapshots the dataset now, as a job."""

    class SnapshotInputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=VersionOutputSerializer(many=True))
    def get(self, request, dataset_id: int):
        return paginated_response(queryset=version_list(dataset=_dataset(dataset_id)),
                                  serializer_class=VersionOutputSerializer, request=request, view=self)

    @extend_schema(request=SnapshotInputSerializer, responses={202: VersionOutputSerializer})
    def post(self, request, dataset_id: int):
        data = self.SnapshotInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = dataset_version_snapshot(dataset=_dataset(dataset_id), author=request.user, **data.validated_data)
        return Response(VersionOutputSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class DatasetVersionDetailApi(APIView):
    @extend_schema(responses=VersionOutputSerializer)
    def get(self, request, dataset_id: int, number: int):
        # A version still building is shown (status "building") so a client can poll for it.
        return Response(VersionOutputSerializer(_version(dataset_id, number, ready=False)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, dataset_id: int, number: int):
        dataset_version_delete(version=_version(dataset_id, number))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetVersionItemsApi(APIView):
    class ItemOutputSerializer(serializers.Serializer):
        image_id = serializers.IntegerField()
        image_sha256 = serializers.CharField()
        annotation_id = serializers.IntegerField(allow_null=True)
        label_source = serializers.CharField()
        mask_sha256 = serializers.CharField()
        regions = serializers.JSONField()
        split = serializers.CharField()

    @extend_schema(responses=ItemOutputSerializer(many=True))
    def get(self, request, dataset_id: int, number: int):
        qs = version_item_list(version=_version(dataset_id, number), split=request.query_params.get("split"))
        return paginated_response(queryset=qs, serializer_class=self.ItemOutputSerializer, request=request, view=self)


class DatasetVersionDiffApi(APIView):
    @extend_schema(responses=inline_serializer("VersionDiff", {
        "from": serializers.IntegerField(), "to": serializers.IntegerField(), "counts": serializers.DictField(),
        "added": serializers.ListField(), "removed": serializers.ListField(), "relabelled": serializers.ListField(),
        "moved_split": serializers.ListField()}))
    def get(self, request, dataset_id: int, a: int, b: int):
        return Response(version_diff(a=_version(dataset_id, a), b=_version(dataset_id, b)))


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.CharField(source="version.dataset.name")
    version = serializers.IntegerField(source="version.number")
    format = serializers.CharField()
    status = serializers.CharField()
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    job = serializers.SerializerMethodField(help_text="The newest attempt of the dataset_export Job (progress, log); "
                                            "null for a CLI export.")
    job_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    archive_sha256 = serializers.CharField(source="archive_id", allow_null=True, help_text=(
        "SHA-256 of the downloaded archive file (check the download with it; SHA256SUMS inside covers the data "
        "files); null until done, and for exports written before archives went to blob storage."))

    def get_job(self, obj) -> int | None:
        return obj.job.newest_attempt.pk if obj.job_id else None

    def get_job_url(self, obj) -> str | None:
        if not obj.job_id:
            return None
        return reverse("job-detail", kwargs={"job_id": obj.job.newest_attempt.pk}, request=self.context.get("request"))

    def get_download_url(self, obj) -> str | None:
        if obj.status != Export.Status.DONE:
            return None
        return reverse("export-download", kwargs={"export_id": obj.pk}, request=self.context.get("request"))


class DatasetVersionExportApi(APIView):
    """Export a version (admins only): a job that writes a .tar.gz; poll the export for its download link."""

    class ExportInputSerializer(serializers.Serializer):
        format = serializers.CharField()

        def validate_format(self, value):
            if value not in EXPORTERS:
                raise serializers.ValidationError(f"unknown export format; known: {', '.join(sorted(EXPORTERS))}")
            return value

    @extend_schema(request=ExportInputSerializer, responses={202: ExportOutputSerializer})
    def post(self, request, dataset_id: int, number: int):
        version = _version(dataset_id, number)
        data = self.ExportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = export_request(version=version, fmt=data.validated_data["format"], requested_by=request.user)
        return Response(ExportOutputSerializer(export, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportOutputSerializer)
    def get(self, request, export_id: int):
        export = get_or_404(export_get(export_id=export_id), "export")
        return Response(ExportOutputSerializer(export, context={"request": request}).data)


class ExportDownloadApi(APIView):
    # An archive is the whole labelled dataset in one file: as admin-only as making the export.
    read_role = Role.ADMIN

    @extend_schema(responses={
        (200, "application/gzip"): bytes,
        302: OpenApiResponse(description="S3 storage: a redirect to a pre-signed link to the archive that expires "
                                         "after FLAWMAP_EXPORT_LINK_SECONDS."),
    })
    def get(self, request, export_id: int):
        export = get_or_404(export_get(export_id=export_id, done=True), "finished export")
        if export.archive_id is not None:
            return _archive_response(export)
        return _legacy_file_response(export)


def _archive_response(export: Export) -> HttpResponse:
    """The archive from blob storage: a short-lived pre-signed S3 link (the bytes go straight from the bucket to
    the client), or streamed through this process from a storage that cannot sign links (local disk)."""
    name = Path(export.path).name or f"export-{export.pk}.tar.gz"
    url = blob_download_url(export.archive, filename=name, expires_seconds=settings.FLAWMAP_EXPORT_LINK_SECONDS)
    if url is not None:
        return HttpResponseRedirect(url)
    return FileResponse(blob_open(export.archive), as_attachment=True, filename=name,
                        content_type=export.archive.content_type)


def _legacy_file_response(export: Export) -> HttpResponse:
    """An export written before archives went to blob storage: its file in this host's FLAWMAP_EXPORT_DIR."""
    path = export_path_inside(export.path)  # 403 for a stored path or a link that leads out of the folder
    if not path.exists():
        raise Http404(f"export {export.pk}'s archive is not in this host's FLAWMAP_EXPORT_DIR (it was written "
                      "there before archives were kept in blob storage); export the version again")
    if not path.is_file():
        raise ApplicationError(f"export {export.pk} is a folder on the server ({path}); only archives download")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)


class ExportFormatListApi(APIView):
    pagination_class = None  # a short fixed list, answered whole (backend/core/schema.py reads this)

    @extend_schema(responses=inline_serializer("ExportFormat", {"name": serializers.CharField(),
                                                                "description": serializers.CharField()}, many=True))
    def get(self, request):
        return Response([{"name": n, "description": c.description} for n, c in sorted(EXPORTERS.items())])
