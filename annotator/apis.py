import logging

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import tasks
from annotator.models import WebhookEvent
from annotator.selectors import campaign_get, campaign_list, webhook_event_list
from annotator.services.events import webhook_event_record
from annotator.services.provision import campaign_create_provisioned, campaign_prelabel_holdout_set
from annotator.services.push import campaign_push_enqueue
from annotator.services.reconcile import campaign_reconcile_enqueue
from annotator.services.review import STARTING_POINTS
from annotator.signing import image_id_from_token
from annotator.webhook_check import WebhookRejected, webhook_body_check, webhook_secret_check
from backend.core.api import get_or_404, paginated_response
from backend.core.blobs import blob_open
from backend.core.permissions import AdminOnlyFieldsMixin
from backend.core.schema import ErrorSerializer
from backend.images.selectors import generator_list, image_with_blob_get

logger = logging.getLogger(__name__)


class LabelStudioWebhookApi(APIView):
    """Receives Label Studio webhooks: checks the shared secret, records the event, answers at once."""

    authentication_classes = []  # Label Studio has no Flawmap account; the shared secret is the credential
    permission_classes = [AllowAny]
    request_body_limit = "FLAWMAP_WEBHOOK_MAX_BYTES"  # not the JSON limit: task payloads can be large

    @extend_schema(request=inline_serializer("LabelStudioWebhook", {"action": serializers.CharField()}),
                   responses={200: inline_serializer("WebhookAck", {"event": serializers.IntegerField()}),
                              403: ErrorSerializer})  # a missing or wrong shared secret
    def post(self, request):
        try:
            webhook_secret_check(given_secret=request.headers.get(settings.LABEL_STUDIO_WEBHOOK_HEADER, "").encode(),
                                 expected_secret=settings.LABEL_STUDIO_WEBHOOK_SECRET.encode())  # before the body
            # read(), not .body: .body stops at DATA_UPLOAD_MAX_MEMORY_SIZE (the JSON limit); the middleware
            # already bounded this body by FLAWMAP_WEBHOOK_MAX_BYTES from its Content-Length; reading one byte more
            # than the cap, never the rest, tells a body that is longer than it said.
            max_bytes = settings.FLAWMAP_WEBHOOK_MAX_BYTES
            payload = webhook_body_check(body=request.read(max_bytes + 1), max_bytes=max_bytes)
        except WebhookRejected as exc:
            return Response({"detail": exc.detail}, status=exc.status)
        event = webhook_event_record(payload=payload)  # atomic itself; committed when it returns
        if event.status == WebhookEvent.Status.FAILED:  # an invalid payload, kept as a failed event with the reason
            return Response({"detail": event.error, "event": event.pk}, status=status.HTTP_400_BAD_REQUEST)
        _enqueue_event(event.pk)
        return Response({"event": event.pk})


def _enqueue_event(event_id: int) -> None:
    # The event is stored: if the broker is down, answer 200 anyway (a failure would count towards Label
    # Studio disabling the hook); the periodic reconcile job processes events left pending.
    try:
        tasks.process_webhook_event.delay(event_id)
    except Exception:
        logger.exception("could not enqueue webhook event %s; reconcile will process it", event_id)


class WebhookEventOutputSerializer(AdminOnlyFieldsMixin, serializers.Serializer):
    # A payload holds labellers' emails, task data and annotations of any campaign: admins only.
    admin_only_fields = ("payload",)

    id = serializers.IntegerField()
    source = serializers.CharField()
    action = serializers.CharField()
    ls_project_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    error = serializers.CharField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField(allow_null=True, help_text="Admins only; null for other roles.")


class WebhookEventListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=WebhookEvent.Status.values),
                    OpenApiParameter("action", str), OpenApiParameter("source", str, enum=WebhookEvent.Source.values)],
        responses=WebhookEventOutputSerializer(many=True),
    )
    def get(self, request):
        params = request.query_params
        qs = webhook_event_list(status=params.get("status"), source=params.get("source"), action=params.get("action"))
        return paginated_response(queryset=qs, serializer_class=WebhookEventOutputSerializer, request=request,
                                  view=self)


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    generator_id = serializers.IntegerField(allow_null=True)
    ls_project_id = serializers.IntegerField(allow_null=True)
    ls_webhook_id = serializers.IntegerField(allow_null=True)
    reconciled_until = serializers.DateTimeField(allow_null=True)
    prelabel_holdout = serializers.FloatField()
    label_studio_url = serializers.SerializerMethodField()

    def get_label_studio_url(self, obj) -> str | None:
        if not obj.ls_project_id:
            return None
        return f"{settings.LABEL_STUDIO_URL}/projects/{obj.ls_project_id}/data"


class CampaignListApi(APIView):
    """Campaigns; POST (admins) creates one and provisions its Label Studio project and webhook."""

    class CampaignCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        generator = serializers.PrimaryKeyRelatedField(queryset=generator_list(), required=False,
                                                       allow_null=True, default=None)
        prelabel_holdout = serializers.FloatField(
            required=False, default=0.0, min_value=0.0, max_value=1.0,
            help_text="Share of pushed tasks sent without the model's prediction (a randomised control).")

    @extend_schema(responses=CampaignOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=campaign_list(), serializer_class=CampaignOutputSerializer,
                                  request=request, view=self)

    @extend_schema(request=CampaignCreateInputSerializer, responses={201: CampaignOutputSerializer})
    def post(self, request):
        data = self.CampaignCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_create_provisioned(**data.validated_data)
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    """A campaign; PATCH (admins) changes its pre-label holdout for the tasks pushed from then on."""

    class CampaignUpdateInputSerializer(serializers.Serializer):
        prelabel_holdout = serializers.FloatField(min_value=0.0, max_value=1.0)

    @extend_schema(responses=CampaignOutputSerializer)
    def get(self, request, campaign_id: int):
        return Response(CampaignOutputSerializer(get_or_404(campaign_get(campaign_id=campaign_id), "campaign")).data)

    @extend_schema(request=CampaignUpdateInputSerializer, responses=CampaignOutputSerializer)
    def patch(self, request, campaign_id: int):
        campaign = get_or_404(campaign_get(campaign_id=campaign_id), "campaign")
        data = self.CampaignUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_prelabel_holdout_set(campaign=campaign, **data.validated_data)
        return Response(CampaignOutputSerializer(campaign).data)


class CampaignPushApi(APIView):
    """Queue images for labelling in the campaign's Label Studio project."""

    class CampaignPushInputSerializer(serializers.Serializer):
        image_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        unlabelled = serializers.IntegerField(required=False, min_value=1, max_value=10000,
                                              help_text="Push this many unlabelled images instead.")
        starting = serializers.ChoiceField(
            choices=STARTING_POINTS, default="model",
            help_text="What each task starts from: the model's pre-label, or the newest human pass (send back for "
                      "review).")

        def validate(self, attrs):
            if bool(attrs["image_ids"]) == bool(attrs.get("unlabelled")):
                raise serializers.ValidationError("give either image_ids or unlabelled")
            return attrs

    @extend_schema(request=CampaignPushInputSerializer,
                   responses={202: inline_serializer("PushQueued", {"queued": serializers.IntegerField(),
                                                                    "job": serializers.IntegerField()})})
    def post(self, request, campaign_id: int):
        campaign = get_or_404(campaign_get(campaign_id=campaign_id), "campaign")
        data = self.CampaignPushInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = campaign_push_enqueue(campaign=campaign, image_ids=data.validated_data["image_ids"] or None,
                                    unlabelled=data.validated_data.get("unlabelled"), created_by=request.user,
                                    starting=data.validated_data["starting"])
        return Response({"queued": len(job.params["image_ids"]), "job": job.pk}, status=status.HTTP_202_ACCEPTED)


class CampaignReconcileApi(APIView):
    @extend_schema(request=None, responses={202: inline_serializer(
        "ReconcileQueued", {"queued": serializers.BooleanField(), "job": serializers.IntegerField()})})
    def post(self, request, campaign_id: int):
        campaign = get_or_404(campaign_get(campaign_id=campaign_id), "campaign")
        job = campaign_reconcile_enqueue(campaign=campaign, created_by=request.user)
        return Response({"queued": True, "job": job.pk}, status=status.HTTP_202_ACCEPTED)


class SignedImageFileApi(APIView):
    """Image bytes behind a signed, expiring link (what Label Studio tasks point at)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "image/*"): bytes, 403: ErrorSerializer})  # a bad or expired link
    def get(self, request, token: str):
        image_id = image_id_from_token(token)
        if image_id is None:
            return Response({"detail": "link is invalid or expired"}, status=status.HTTP_403_FORBIDDEN)
        image = get_or_404(image_with_blob_get(image_id=image_id), "image")
        return FileResponse(blob_open(image.blob), content_type=image.blob.content_type)
