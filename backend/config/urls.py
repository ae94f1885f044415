from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from annotator import apis as labelstudio_apis
from backend.analytics import apis as analytics_apis
from backend.annotations import apis as annotation_apis
from backend.core.throttles import login_throttled
from backend.images import apis as image_apis
from backend.jobs import apis as job_apis
from backend.mlmodels import apis as model_apis
from backend.quality import apis as quality_apis
from backend.taxonomy import apis as taxonomy_apis
from datasets import apis as dataset_apis
from datasets import benchmark_apis
from learning import apis as learning_apis

api = [
    path("generators/", image_apis.GeneratorListApi.as_view(), name="generator-list"),
    path("generators/leaderboard", quality_apis.GeneratorLeaderboardApi.as_view(), name="generator-leaderboard"),
    path("generators/<int:generator_id>/", image_apis.GeneratorDetailApi.as_view(), name="generator-detail"),
    path("generators/<int:generator_id>/onboard", learning_apis.GeneratorOnboardApi.as_view(),
         name="generator-onboard"),
    path("tasks/", image_apis.TaskListApi.as_view(), name="task-list"),
    path("taxonomy/", taxonomy_apis.TaxonomyApi.as_view(), name="taxonomy"),
    path("taxonomy/versions/", taxonomy_apis.TaxonomyVersionListApi.as_view(), name="taxonomy-versions"),
    path("images/", image_apis.ImageListApi.as_view(), name="image-list"),
    path("images/<int:image_id>/", image_apis.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file", image_apis.ImageFileApi.as_view(), name="image-file"),
    path(
        "images/<int:image_id>/conditional-inputs/<int:input_id>/file",
        image_apis.ConditionalInputFileApi.as_view(),
        name="image-conditional-input-file",
    ),
    path("images/<int:image_id>/fix", quality_apis.ImageFixApi.as_view(), name="image-fix"),
    path("images/<int:image_id>/annotations/", annotation_apis.ImageAnnotationListApi.as_view(),
         name="image-annotations"),
    path("images/<int:image_id>/masks/", annotation_apis.ImageMaskCreateApi.as_view(), name="image-masks"),
    path("annotations/<int:annotation_id>/", annotation_apis.AnnotationDetailApi.as_view(), name="annotation-detail"),
    path("annotations/<int:annotation_id>/mask", annotation_apis.AnnotationMaskApi.as_view(), name="annotation-mask"),
    path("campaigns/", labelstudio_apis.CampaignListApi.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>/", labelstudio_apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("campaigns/<int:campaign_id>/push", labelstudio_apis.CampaignPushApi.as_view(), name="campaign-push"),
    path("campaigns/<int:campaign_id>/next-batch", learning_apis.CampaignNextBatchApi.as_view(),
         name="campaign-next-batch"),
    path("campaigns/<int:campaign_id>/reconcile", labelstudio_apis.CampaignReconcileApi.as_view(),
         name="campaign-reconcile"),
    path("labelstudio/webhook/", labelstudio_apis.LabelStudioWebhookApi.as_view(), name="labelstudio-webhook"),
    path("labelstudio/events/", labelstudio_apis.WebhookEventListApi.as_view(), name="labelstudio-events"),
    path("datasets/", dataset_apis.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>/versions/", dataset_apis.DatasetVersionListApi.as_view(), name="dataset-versions"),
    path("datasets/<int:dataset_id>/versions/<int:number>/", dataset_apis.DatasetVersionDetailApi.as_view(),
         name="dataset-version"),
    path("datasets/<int:dataset_id>/versions/<int:number>/items/", dataset_apis.DatasetVersionItemsApi.as_view(),
         name="dataset-version-items"),
    path("datasets/<int:dataset_id>/versions/<int:a>/diff/<int:b>", dataset_apis.DatasetVersionDiffApi.as_view(),
         name="dataset-version-diff"),
    path("datasets/<int:dataset_id>/versions/<int:number>/exports", dataset_apis.DatasetVersionExportApi.as_view(),
         name="dataset-version-export"),
    path("exports/<int:export_id>/", dataset_apis.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:export_id>/download", dataset_apis.ExportDownloadApi.as_view(), name="export-download"),
    path("jobs/", job_apis.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", job_apis.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", job_apis.JobCancelApi.as_view(), name="job-cancel"),
    path("models/train", learning_apis.ModelTrainApi.as_view(), name="model-train"),
    # The registry's views with each model's benchmark scores added (datasets sits above the registry).
    path("models/", benchmark_apis.ModelVersionScoredListApi.as_view(), name="model-list"),
    path("models/<int:model_id>/", benchmark_apis.ModelVersionScoredDetailApi.as_view(), name="model-detail"),
    path("benchmarks/", benchmark_apis.BenchmarkListApi.as_view(), name="benchmark-list"),
    path("models/routing", model_apis.ModelRoutingApi.as_view(), name="model-routing"),
    path("models/<int:model_id>/promote", model_apis.ModelVersionPromoteApi.as_view(), name="model-promote"),
    path("quality/best-of-n", quality_apis.BestOfNApi.as_view(), name="quality-best-of-n"),
    path("reward", model_apis.RewardApi.as_view(), name="reward"),
    path("quality/fixes/<int:job_id>/", quality_apis.FixJobDetailApi.as_view(), name="fix-job-detail"),
    path("stats/labeling-time", analytics_apis.LabelingTimeStatsApi.as_view(), name="stats-labeling-time"),
    path("export-formats/", dataset_apis.ExportFormatListApi.as_view(), name="export-formats"),
    path("labelstudio/images/<str:token>", labelstudio_apis.SignedImageFileApi.as_view(), name="signed-image-file"),
]

urlpatterns = [
    # Before admin/: the throttled form wins.
    path("admin/login/", login_throttled(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    # The login forms, with a limit on attempts per client (backend/core/throttles.py); the rest as before.
    path("api-auth/login/", login_throttled(LoginView.as_view(template_name="rest_framework/login.html")),
         name="login"),
    path("api-auth/", include("rest_framework.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("browse/", include("dashboard.browse.urls")),
    path("api/", include(api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

handler404 = "backend.core.api.not_found"
