"""Gallery, its filters, thumbnails and the selection actions."""

from django.urls import path

from dashboard.browse import actions, gallery

urlpatterns: list = [
    path("", gallery.gallery, name="gallery"),
    path("thumbs/<int:image_id>/", gallery.thumbnail, name="thumbnail"),
    path("actions/dataset/", actions.DatasetFromFilterView.as_view(), name="dataset-create"),
    path("actions/push/", actions.CampaignPushView.as_view(), name="push"),
]
