from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.core.api import paginated_response, query_int
from backend.core.exceptions import ApplicationError
from backend.core.permissions import AdminOnlyFieldsMixin
from backend.core.roles import Role
from backend.jobs.models import Job
from backend.jobs.selectors import job_list
from backend.jobs.services import job_cancel


class JobOutputSerializer(AdminOnlyFieldsMixin, serializers.Serializer):
    # A traceback or log can name server paths, hosts and the text of secrets in errors: admins only.
    admin_only_fields = ("log_tail", "traceback")

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    queue = serializers.CharField()
    params = serializers.JSONField()
    result = serializers.JSONField()
    progress = serializers.FloatField()
    message = serializers.CharField()
    log_tail = serializers.CharField(allow_null=True, help_text="Admins only; null for other roles.")
    traceback = serializers.CharField(allow_null=True, help_text="Admins only; null for other roles.")
    attempt = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    retry_of = serializers.IntegerField(source="retry_of_id", allow_null=True)
    retried_by = serializers.SerializerMethodField()
    cancel_requested = serializers.BooleanField()
    subject_type = serializers.CharField(source="subject_label", allow_null=True)
    subject_id = serializers.IntegerField(allow_null=True)
    worker = serializers.CharField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_retried_by(self, obj) -> int | None:
        retry = getattr(obj, "retry", None)
        return retry.pk if retry is not None else None


class JobListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str),
            OpenApiParameter("status", str, enum=Job.Status.values),
            OpenApiParameter("subject_type", str, description="What the jobs work on: app_label.model, "
                                                          "e.g. annotator.campaign"),
            OpenApiParameter("subject_id", int),
        ],
        responses=JobOutputSerializer(many=True),
    )
    def get(self, request):
        status = request.query_params.get("status")
        if status and status not in Job.Status.values:
            raise ApplicationError(f"status must be one of {', '.join(Job.Status.values)}")
        qs = job_list(kind=request.query_params.get("kind"), status=status,
                      subject_type=request.query_params.get("subject_type"),
                      subject_id=query_int(request.query_params, "subject_id"))
        return paginated_response(queryset=qs, serializer_class=JobOutputSerializer, request=request, view=self)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        job = get_object_or_404(job_list(), pk=job_id)
        return Response(JobOutputSerializer(job, context={"request": request}).data)


class JobCancelApi(APIView):
    """Admins, and the annotator or reviewer who created the job: a queued job is cancelled at once, a running one
    at its next checkpoint."""

    write_role = Role.ANNOTATOR

    @extend_schema(request=None, responses=JobOutputSerializer)
    def post(self, request, job_id: int):
        job = job_cancel(job=get_object_or_404(Job, pk=job_id), requested_by=request.user)
        return Response(JobOutputSerializer(job_list().get(pk=job.pk), context={"request": request}).data)
