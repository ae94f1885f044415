"""Who may call what: route name × method → the status each role gets, checked by tests/security/test_role_table.py.

Each request carries an empty body (JSON, or multipart where the view parses only that), so:
- 401: anonymous on the API (token authentication comes first and asks for credentials);
- 302: anonymous on a dashboard page (sent to the dashboard's login);
- 403: logged in without a Flawmap role, or a role below what the route needs; checked before the body;
- 400 (or 201/202/200/409 where noted): the role passed and the empty body was judged — the permission held.

A new route fails the test until it has a row here. Decide the codes from the rules, not from what the route
happens to answer: viewers read; annotators also label, fix images, pick the next batch and cancel their own jobs;
reviewers also mark passes reviewed and replace anyone's pass; admins do the rest (ingest, delete, export and
download exports, campaigns, training, promotion, taxonomy).

The Django admin site (namespace ADMIN_SITE) has no rows: Django's staff check guards all of it and a Flawmap role
never makes a user staff; test_the_django_admin_is_for_staff_only_whatever_the_flawmap_role checks that instead.
"""

ROLES = ("anonymous", "no_role", "viewer", "annotator", "reviewer", "admin")
ADMIN_SITE = "admin"
# Function views (the dashboard pages) take any method and only render: GET is the one that matters.
FUNCTION_VIEW_METHODS = ("GET",)

#         anonymous no_role viewer annotator reviewer admin
READ = (401, 403, 200, 200, 200, 200)                 # any role reads
ADMIN_WRITE = (401, 403, 403, 403, 403, 400)          # admins only; the empty body is a 400
ANNOTATOR_WRITE = (401, 403, 403, 400, 400, 400)      # annotators and up
VIEWER_POST = (401, 403, 400, 400, 400, 400)          # a read sent as POST: any role
ADMIN_READ = (401, 403, 403, 403, 403, 200)           # a read for admins only
PAGE = (302, 403, 200, 200, 200, 200)                 # a dashboard page: login first, then any role
PUBLIC = (200, 200, 200, 200, 200, 200)

TABLE = {
    # --- The API's login form (api-auth/login/, throttled; DRF's own login route under it is shadowed by it), its
    # logout, and the dashboard's login: open to all.
    "login": {"GET": PUBLIC, "POST": PUBLIC, "PUT": PUBLIC},  # an empty form re-renders (200)
    "rest_framework:login": {"GET": PUBLIC, "POST": PUBLIC, "PUT": PUBLIC},
    # The Django admin's login form, throttled like the others (the rest of admin/ is staff-only: see the test).
    "admin-login": {"GET": PUBLIC},
    "rest_framework:logout": {"GET": (405,) * 6, "POST": PUBLIC},  # logout is POST only (Django 5)
    "dashboard:login": {
        # A logged-in user is sent on to the overview; an empty form re-renders for the anonymous one.
        "GET": (200, 302, 302, 302, 302, 302), "POST": (200, 302, 302, 302, 302, 302),
        "PUT": (200, 302, 302, 302, 302, 302),
    },
    "dashboard:logout": {"GET": (405,) * 6, "POST": (302,) * 6},
    # --- Dashboard pages.
    "dashboard:overview": {"GET": PAGE},
    "dashboard:par": {"GET": PAGE},
    "dashboard:heatmap": {"GET": PAGE},
    "dashboard:time": {"GET": PAGE},
    "dashboard:models": {"GET": PAGE},
    "dashboard:learning": {"GET": PAGE},
    "dashboard:jobs": {"GET": PAGE},
    "dashboard:datasets": {"GET": PAGE},
    "dashboard:datasheet": {"GET": PAGE},
    # --- The browser's gallery (dashboard/browse/gallery_urls.py): pages for every role; its actions as their API
    # endpoints allow (dataset create, campaign push: admins), a 302 to the login for the anonymous; the admin's empty
    # form is a 400 (no name / no campaign).
    "browse:gallery": {"GET": PAGE},
    "browse:thumbnail": {"GET": PAGE},
    "browse:dataset-create": {"POST": (302, 403, 403, 403, 403, 400)},
    "browse:push": {"POST": (302, 403, 403, 403, 403, 400)},
    # --- Browser: the image page (with each pass's overlay PNG), version pages and diffs (lane 24b).
    "browse:image": {"GET": PAGE},
    "browse:overlay": {"GET": PAGE},
    "browse:version": {"GET": PAGE},
    "browse:diff": {"GET": PAGE},
    # Marking passes reviewed: reviewers and admins (as the API's status "reviewed"); no pass chosen is a 400 page.
    "browse:mark-reviewed": {"POST": (302, 403, 403, 403, 400, 400)},
    # --- API: images, generators, tasks, taxonomy.
    "generator-list": {"GET": READ, "POST": ADMIN_WRITE},
    "generator-leaderboard": {"GET": READ},
    "generator-detail": {"GET": READ},
    "generator-onboard": {"POST": ADMIN_WRITE},  # the fixture's one image is labelled: nothing to onboard (400)
    "task-list": {"GET": READ, "POST": ADMIN_WRITE},
    "taxonomy": {"GET": READ},
    "taxonomy-versions": {"GET": READ, "POST": ADMIN_WRITE},
    "image-list": {"GET": READ, "POST": ADMIN_WRITE},  # POST is the ingest upload
    "image-detail": {"GET": READ, "DELETE": (401, 403, 403, 403, 403, 409)},  # admin: a dataset version holds it
    "image-file": {"GET": READ},
    "image-conditional-input-file": {"GET": READ},
    "image-fix": {"POST": ANNOTATOR_WRITE},  # 400: no production segmenter
    # --- API: annotations. The empty JSON body is a valid pass (submitted, no mask): 201 for annotators and up.
    # Marking a pass reviewed and replacing someone else's pass are checked per request: test_role_rules.py.
    "image-annotations": {"GET": READ, "POST": (401, 403, 403, 201, 201, 201)},
    "image-masks": {"POST": ANNOTATOR_WRITE},  # multipart without the file: 400
    "annotation-detail": {"GET": READ},
    "annotation-mask": {"GET": READ},
    # --- API: Label Studio campaigns and webhooks.
    "campaign-list": {"GET": READ, "POST": ADMIN_WRITE},
    "campaign-detail": {"GET": READ, "PATCH": ADMIN_WRITE},  # admin: an empty body lacks prelabel_holdout
    "campaign-push": {"POST": ADMIN_WRITE},
    "campaign-next-batch": {"POST": ANNOTATOR_WRITE},  # 400: uncertainty needs a production segmenter
    "campaign-reconcile": {"POST": (401, 403, 403, 403, 403, 202)},  # admin: the reconcile job is queued
    # Label Studio has no Flawmap account; the shared secret is the credential, missing here for everyone.
    "labelstudio-webhook": {"POST": (403,) * 6},
    "labelstudio-events": {"GET": READ},  # payloads only for admins: test_role_rules.py
    # Signed, expiring link (what Label Studio tasks point at): the signature is the credential.
    "signed-image-file": {"GET": PUBLIC},
    # --- API: datasets and exports.
    "dataset-list": {"GET": READ, "POST": ADMIN_WRITE},
    "dataset-versions": {"GET": READ, "POST": (401, 403, 403, 403, 403, 202)},  # admin: the snapshot job is queued
    "dataset-version": {"GET": READ, "DELETE": (401, 403, 403, 403, 403, 409)},  # admin: an export holds it
    "dataset-version-items": {"GET": READ},
    "dataset-version-diff": {"GET": READ},
    "dataset-version-export": {"POST": ADMIN_WRITE},
    "export-detail": {"GET": READ},
    "export-download": {"GET": ADMIN_READ},  # the whole labelled dataset in one file
    "export-formats": {"GET": READ},
    # --- API: jobs. The fixture's job is the admin's: an annotator or reviewer may cancel only their own.
    "job-list": {"GET": READ},  # tracebacks and logs only for admins: test_role_rules.py
    "job-detail": {"GET": READ},
    "job-cancel": {"POST": (401, 403, 403, 403, 403, 200)},
    # --- API: models, quality, analytics.
    "model-train": {"POST": ADMIN_WRITE},
    "model-list": {"GET": READ},
    "model-detail": {"GET": READ},
    "benchmark-list": {"GET": READ},
    "model-routing": {"GET": READ},
    "model-promote": {"POST": ADMIN_WRITE},  # 400: the fixture's version has no checkpoint
    "quality-best-of-n": {"POST": VIEWER_POST},
    "reward": {"POST": VIEWER_POST},
    "fix-job-detail": {"GET": READ},
    "stats-labeling-time": {"GET": READ},
    # --- OpenAPI schema and its Swagger UI: behind the login like the API they describe.
    "schema": {"GET": READ},
    "api-docs": {"GET": READ},
}
