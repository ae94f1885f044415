import hmac
import json
import logging

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import tasks
from annotator.models import Campaign, WebhookEvent
from annotator.services.events import webhook_event_record
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_enqueue, unlabelled_image_ids
from annotator.services.reconcile import campaign_reconcile_enqueue
from annotator.signing import image_id_from_token
from backend.core.api import get_or_404, paginated_response
from backend.core.blobs import blob_open
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.images.models import GeneratedImage, Generator

logger = logging.getLogger(__name__)


class LabelStudioWebhookApi(APIView):
    """Receives Label Studio webhooks: checks the shared secret, records the event, answers at once."""

    authentication_classes = []  # Label Studio has no Flawmap account; the shared secret is the credential
    permission_classes = [AllowAny]

    @extend_schema(request=inline_serializer("LabelStudioWebhook", {"action": serializers.CharField()}),
                   responses={200: inline_serializer("WebhookAck", {"event": serializers.IntegerField()})})
    def post(self, request):
        given = request.headers.get(settings.LABEL_STUDIO_WEBHOOK_HEADER, "")
        if not hmac.compare_digest(given.encode(), settings.LABEL_STUDIO_WEBHOOK_SECRET.encode()):
            return Response({"detail": "missing or wrong webhook secret"}, status=status.HTTP_403_FORBIDDEN)
        try:
            payload = json.loads(request.body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Response({"detail": "body is not JSON"}, status=status.HTTP_400_BAD_REQUEST)
        if not isinstance(payload, dict) or not payload.get("action"):
            return Response({"detail": "payload needs an action"}, status=status.HTTP_400_BAD_REQUEST)
        event = webhook_event_record(payload=payload)  # atomic itself; committed when it returns
        _enqueue_event(event.pk)
        return Response({"event": event.pk})


def _enqueue_event(event_id: int) -> None:
    # The event is stored: if the broker is down, answer 200 anyway (a failure would count towards Label
    # Studio disabling the hook); the periodic reconcile job processes events left pending.
    try:
        tasks.process_webhook_event.delay(event_id)
    except Exception:
        logger.exception("could not enqueue webhook event %s; reconcile will process it", event_id)


class WebhookEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    action = serializers.CharField()
    ls_project_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    error = serializers.CharField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.JSONField()


class WebhookEventListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=WebhookEvent.Status.values),
                    OpenApiParameter("action", str), OpenApiParameter("source", str, enum=WebhookEvent.Source.values)],
        responses=WebhookEventOutputSerializer(many=True),
    )
    def get(self, request):
        qs = WebhookEvent.objects.all()
        for field, choices in (("status", WebhookEvent.Status.values), ("source", WebhookEvent.Source.values)):
            value = request.query_params.get(field)
            if value is not None:
                if value not in choices:
                    raise ApplicationError(f"{field} must be one of {', '.join(choices)}")
                qs = qs.filter(**{field: value})
        if request.query_params.get("action"):
            qs = qs.filter(action=request.query_params["action"])
        return paginated_response(queryset=qs, serializer_class=WebhookEventOutputSerializer, request=request, view=self)


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    generator_id = serializers.IntegerField(allow_null=True)
    ls_project_id = serializers.IntegerField(allow_null=True)
    ls_webhook_id = serializers.IntegerField(allow_null=True)
    reconciled_until = serializers.DateTimeField(allow_null=True)
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
        generator = serializers.PrimaryKeyRelatedField(queryset=Generator.objects.all(), required=False,
                                                       allow_null=True, default=None)

    @extend_schema(responses=CampaignOutputSerializer(many=True))
    def get(self, request):
        return paginated_response(queryset=Campaign.objects.all(), serializer_class=CampaignOutputSerializer,
                                  request=request, view=self)

    @extend_schema(request=CampaignCreateInputSerializer, responses={201: CampaignOutputSerializer})
    def post(self, request):
        data = self.CampaignCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_create(**data.validated_data)
        try:
            campaign_provision(campaign=campaign)
        except Exception:
            campaign.delete()  # no campaign without its project
            raise
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    @extend_schema(responses=CampaignOutputSerializer)
    def get(self, request, campaign_id: int):
        return Response(CampaignOutputSerializer(get_or_404(Campaign.objects.filter(pk=campaign_id).first(),
                                                            "campaign")).data)


class CampaignPushApi(APIView):
    """Queue images for labelling in the campaign's Label Studio project."""

    class CampaignPushInputSerializer(serializers.Serializer):
        image_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        unlabelled = serializers.IntegerField(required=False, min_value=1, max_value=10000,
                                              help_text="Push this many unlabelled images instead.")

        def validate(self, attrs):
            if bool(attrs["image_ids"]) == bool(attrs.get("unlabelled")):
                raise serializers.ValidationError("give either image_ids or unlabelled")
            return attrs

    @extend_schema(request=CampaignPushInputSerializer,
                   responses={202: inline_serializer("PushQueued", {"queued": serializers.IntegerField(),
                                                                    "job": serializers.IntegerField()})})
    def post(self, request, campaign_id: int):
        campaign = get_or_404(Campaign.objects.filter(pk=campaign_id).first(), "campaign")
        data = self.CampaignPushInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["image_ids"] or unlabelled_image_ids(
            campaign=campaign, limit=data.validated_data["unlabelled"])
        known = set(GeneratedImage.objects.filter(pk__in=ids).values_list("id", flat=True))
        if len(known) != len(set(ids)):
            raise ApplicationError(f"unknown image id(s): {sorted(set(ids) - known)[:10]}")
        job = campaign_push_enqueue(campaign=campaign, image_ids=ids, created_by=request.user)
        return Response({"queued": len(ids), "job": job.pk}, status=status.HTTP_202_ACCEPTED)


class CampaignReconcileApi(APIView):
    @extend_schema(request=None, responses={202: inline_serializer(
        "ReconcileQueued", {"queued": serializers.BooleanField(), "job": serializers.IntegerField()})})
    def post(self, request, campaign_id: int):
        campaign = get_or_404(Campaign.objects.filter(pk=campaign_id).first(), "campaign")
        job = campaign_reconcile_enqueue(campaign=campaign, created_by=request.user)
        return Response({"queued": True, "job": job.pk}, status=status.HTTP_202_ACCEPTED)


class SignedImageFileApi(APIView):
    """Image bytes behind a signed, expiring link (what Label Studio tasks point at)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request, token: str):
        image_id = image_id_from_token(token)
        if image_id is None:
            return Response({"detail": "link is invalid or expired"}, status=status.HTTP_403_FORBIDDEN)
        image = GeneratedImage.objects.select_related("blob").filter(pk=image_id).first()
        if image is None:
            raise Http404("image not found")
        return FileResponse(blob_open(image.blob), content_type=image.blob.content_type)


class CampaignNextBatchApi(APIView):
    """Pick the next k images for humans by an acquisition strategy and push them to Label Studio in that
    order. Annotators and admins."""

    write_role = Role.ANNOTATOR

    class NextBatchInputSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=1000, default=20)
        strategy = serializers.ChoiceField(choices=["uncertainty", "margin", "par", "diversity", "random", "mix"],
                                           default="uncertainty")
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
        from annotator.services.learning import campaign_next_batch

        campaign = get_or_404(Campaign.objects.filter(pk=campaign_id).first(), "campaign")
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
        from annotator.services.onboarding import generator_onboard

        generator = get_or_404(Generator.objects.filter(pk=generator_id).first(), "generator")
        data = self.OnboardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not GeneratedImage.objects.filter(generator=generator, is_labelled=False).exists():
            raise ApplicationError(f"generator {generator} has no unlabelled images to label; ingest some first")
        return Response(generator_onboard(generator=generator, **data.validated_data))
