"""The data browser (/browse/): gallery with overlays and filters, label-error finder, image and version pages.

Server-rendered like the dashboard, behind the same login and roles; actions go through the same services and
permissions as their API endpoints."""
