"""/browse/: the gallery's routes (gallery_urls) and the image and version pages' routes (page_urls)."""

from dashboard.browse import gallery_urls, page_urls

app_name = "browse"

urlpatterns = [*gallery_urls.urlpatterns, *page_urls.urlpatterns]
