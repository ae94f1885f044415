"""Every route × method × role against the checked-in table (tests/security/role_table.py).

The routes come from Django's URL resolver, so a new route without a row fails here, and a row whose route is
gone fails too. Each request carries an empty body: a role that may write gets 400 (validation), one that may
not gets 403 before anything is validated. Every request runs inside a savepoint that is rolled back, so an
admin's DELETE or promote leaves the fixture as it was for the next one.
"""

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.test import APIClient

from annotator.models import Campaign
from annotator.signing import image_signed_url
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.services import annotation_create
from backend.images.models import SynthesisTask
from backend.images.services import ConditionalFile, IngestItem, image_ingest
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from backend.quality.models import FixJob
from datasets.models import Export
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from tests.conftest import png_bytes
from tests.factories import GeneratorFactory
from tests.security.role_table import ADMIN_SITE, FUNCTION_VIEW_METHODS, ROLES, TABLE

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _routes(patterns=None, prefix="", namespace="", params=()):
    """(route name, callback, path parameter names) of every pattern, recursively; the Django admin's namespace
    is left to its own test below."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        names = (*params, *getattr(p.pattern, "converters", {}))
        if isinstance(p, URLResolver):
            if p.namespace == ADMIN_SITE:
                continue
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _routes(p.url_patterns, prefix + str(p.pattern), ns, names)
        elif isinstance(p, URLPattern):
            assert p.name, f"route {prefix}{p.pattern} has no name: name it and add it to tests/security/role_table.py"
            yield f"{namespace}{p.name}", p.callback, names


def _methods(callback) -> list[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:  # a function view (the dashboard pages): read-only pages, see FUNCTION_VIEW_METHODS
        return list(FUNCTION_VIEW_METHODS)
    return [m for m in METHODS if hasattr(view_class, m.lower())]


def _json_body(callback) -> bool:
    view_class = getattr(callback, "cls", None)
    parsers = getattr(view_class, "parser_classes", None) or [JSONParser]
    return any(issubclass(p, JSONParser) for p in parsers)


@pytest.fixture
def world(tmp_path, settings):
    """One of everything a route can name, and a user per role."""
    settings.FLAWMAP_EXPORT_DIR = str(tmp_path / "exports")
    users = {role: None for role in ROLES}
    for role in ROLES[1:]:
        users[role] = User.objects.create_user(f"{role}-user", password="pw")
        if role != "no_role":
            users[role].groups.add(Group.objects.get(name=role))
    generator = GeneratorFactory(name="table")
    image = image_ingest(item=IngestItem(name="t.png", data=png_bytes(24, 16, seed=5), conditional_inputs=[
        ConditionalFile(role="edge", name="edge.png", data=png_bytes(24, 16, seed=6))]),
        generator=generator, task=SynthesisTask.objects.get(slug="text_to_image")).image
    mask = np.zeros((16, 24), dtype=bool)
    mask[:3] = True
    annotation = annotation_create(image=image, user=users["annotator"], mask=mask_array_to_canonical(mask))
    dataset = dataset_create(name="table")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset))
    archive = tmp_path / "exports" / "table.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"\x1f\x8b not really an archive")
    export = Export.objects.create(version=version, format="pal4vst", status=Export.Status.DONE, path=str(archive),
                                   finished_at=timezone.now())
    # Someone else's job (the admin's), still queued: cancelling it is the rule under test.
    job = Job.objects.create(kind="dataset_export", created_by=users["admin"])
    model = ModelVersion.objects.create(kind=ModelVersion.Kind.SEGMENTER, name="table", version="v1")
    fix = FixJob.objects.create(job=Job.objects.create(kind="fix_image"), image=image, model_version=model,
                                mode="zoom", backend="opencv-telea", dilate=4)
    campaign = Campaign.objects.create(name="table")  # no Label Studio project: nothing is provisioned
    params = {
        "generator_id": generator.pk, "image_id": image.pk, "input_id": image.conditional_inputs.get().pk,
        "annotation_id": annotation.pk, "campaign_id": campaign.pk, "dataset_id": dataset.pk,
        "number": version.number, "a": version.number, "b": version.number, "export_id": export.pk,
        "job_id": job.pk, "model_id": model.pk, "version_id": version.pk,
        "token": image_signed_url(image_id=image.pk).rstrip("/").rsplit("/", 1)[-1],
    }
    overrides = {"fix-job-detail": {"job_id": fix.pk}}
    return users, params, overrides


def _url(name, param_names, params, overrides) -> str:
    return reverse(name, kwargs={k: overrides.get(name, {}).get(k, params[k]) for k in param_names})


def _observe(world) -> dict:
    users, params, overrides = world
    observed = {}
    for name, callback, param_names in _routes():
        url = _url(name, param_names, params, overrides)
        fmt = "json" if _json_body(callback) else "multipart"
        for method in _methods(callback):
            codes = []
            for role in ROLES:
                cache.clear()  # throttle counts (login, reward): the limits have their own tests
                with transaction.atomic():
                    client = APIClient()  # a fresh login each time: the logout routes end the session
                    if users[role] is not None:
                        client.force_login(users[role])
                    if method in ("GET", "DELETE"):
                        response = client.generic(method, url)
                    else:
                        response = getattr(client, method.lower())(url, {}, format=fmt)
                    codes.append(response.status_code)
                    transaction.set_rollback(True)
            observed.setdefault(name, {})[method] = tuple(codes)
    return observed


@pytest.mark.django_db
def test_every_route_method_and_role_answers_as_the_table_says(world):
    observed = _observe(world)
    missing = sorted(set(observed) - set(TABLE))
    assert not missing, (f"routes without a row in tests/security/role_table.py: {missing}; add a row with the "
                         f"status each role should get (observed: {({n: observed[n] for n in missing})})")
    gone = sorted(set(TABLE) - set(observed))
    assert not gone, f"rows in tests/security/role_table.py whose route no longer exists: {gone}; remove them"
    wrong = []
    for name, methods in observed.items():
        if set(methods) != set(TABLE[name]):
            wrong.append(f"{name}: methods {sorted(methods)} but the table has {sorted(TABLE[name])}")
            continue
        for method, codes in methods.items():
            if codes != TABLE[name][method]:
                wrong.append(f"{name} {method}: got {dict(zip(ROLES, codes))}, "
                             f"table says {dict(zip(ROLES, TABLE[name][method]))}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_the_django_admin_is_for_staff_only_whatever_the_flawmap_role(world, client):
    """The admin site's routes are not rows: Django's own staff check guards every one (a Flawmap role is a group,
    never staff), so each role is sent to the admin login instead."""
    users, _, _ = world
    for role, user in users.items():
        client.logout()
        if user is not None:
            client.force_login(user)
        for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{users['admin'].pk}/change/",
                     "/admin/auth/group/add/"):
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (role, path)
