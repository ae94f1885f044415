import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from backend.analytics import labeling_time, randomised
from backend.core.exceptions import ApplicationError


class CSVRenderer(BaseRenderer):
    """Lets `?format=csv` through content negotiation; the view builds the CSV itself."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class LabelingTimeStatsApi(APIView):
    """Labelling time per group, assisted vs unassisted (observational), shown vs withheld (randomised, from the
    campaigns' pre-label holdout) and a projection for more images of a generator.

    What is counted is documented in backend/analytics/labeling_time.py (drafts, revisions, rejections).
    """

    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("group_by", str, enum=list(labeling_time.GROUPS), description="Default: annotator."),
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: the grouped rows as a file."),
            OpenApiParameter("project_generator", int, description="Generator id to project labelling hours for."),
            OpenApiParameter("project_n", int, description="How many more images to project for."),
        ],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request):
        params = request.query_params
        group_by = params.get("group_by", "annotator")
        if group_by not in labeling_time.GROUPS:
            raise ApplicationError(f"group_by must be one of {', '.join(labeling_time.GROUPS)}")
        passes = labeling_time.counted_passes()
        rows = labeling_time.grouped(passes, group_by)
        if params.get("format") == "csv":
            return _csv(rows, group_by)
        body = {
            "group_by": group_by,
            "counted": "submitted/reviewed human passes with a lead time; drafts excluded; an annotator's own "
                       "revisions counted once (Label Studio's lead time is cumulative); rejected apart",
            "groups": rows,
            "overall": labeling_time.summary([p.seconds for p in passes]),
            "assisted_vs_unassisted": labeling_time.assisted_vs_unassisted(passes),
            "randomised": randomised.randomised_comparison(passes),
            "rejected": labeling_time.rejected_summary(),
        }
        if params.get("project_generator"):
            try:
                generator_id, n = int(params["project_generator"]), int(params.get("project_n", "100"))
            except ValueError as exc:
                raise ApplicationError("project_generator and project_n must be integers") from exc
            if n < 1:
                raise ApplicationError("project_n must be at least 1")
            body["projection"] = labeling_time.projection(generator_id=generator_id, n_images=n)
        return Response(body)


def _csv(rows: list[dict], group_by: str) -> HttpResponse:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[group_by, "count", "median_s", "p90_s", "total_hours"])
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(buf.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="labeling-time-by-{group_by}.csv"'
    return response
