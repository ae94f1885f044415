"""The image page, version pages and version diffs."""

from django.urls import path

from dashboard.browse import views_image, views_version

urlpatterns: list = [
    path("images/<int:image_id>/", views_image.image_page, name="image"),
    path("images/<int:image_id>/review", views_image.MarkReviewedView.as_view(), name="mark-reviewed"),
    path("annotations/<int:annotation_id>/overlay.png", views_image.pass_overlay, name="overlay"),
    path("datasets/<int:dataset_id>/versions/<int:number>/", views_version.version_page, name="version"),
    path("datasets/<int:dataset_id>/versions/<int:a>/diff/<int:b>", views_version.version_diff_page, name="diff"),
]
