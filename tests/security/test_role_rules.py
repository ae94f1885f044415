"""Role rules that depend on the data, beyond the route table (tests/security/role_table.py): who may mark a pass
reviewed or replace whose pass, who may cancel whose job, who sees job tracebacks and webhook payloads, who may
download an export, and how a Label Studio account becomes a Flawmap user."""

import socket

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from annotator.models import Campaign, LabelStudioUser, WebhookEvent
from annotator.services.intake import ls_users_link
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.core.roles import Role, user_role
from backend.jobs.models import Job
from backend.mlmodels.models import ModelVersion
from tests.conftest import mask_bytes, png_bytes, upload
from tests.factories import make_image

pytestmark = pytest.mark.django_db


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def people(admin_user, annotator_user, viewer_user):
    return {"admin": admin_user, "annotator": annotator_user, "viewer": viewer_user,
            "reviewer": _user("rita-reviewer", "reviewer"), "other": _user("otto-annotator", "annotator")}


@pytest.fixture
def image():
    return make_image(data=png_bytes(32, 24, seed=31))


def test_the_reviewer_role_sits_between_annotator_and_admin(people):
    assert Role.ANNOTATOR < Role.REVIEWER < Role.ADMIN and Role.REVIEWER.group_name == "reviewer"
    assert user_role(people["reviewer"]) == Role.REVIEWER  # the data migration made the group


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_reviewer_group_migration_goes_back_and_forth():
    executor = MigrationExecutor(connection)
    executor.migrate([("core", "0002_roles")])
    assert not Group.objects.filter(name="reviewer").exists()
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Group.objects.filter(name="reviewer").exists()


# --- reviewed status

def test_an_annotator_cannot_mark_a_pass_reviewed(people, image):
    r = _client(people["annotator"]).post(f"/api/images/{image.pk}/annotations/", {"status": "reviewed"},
                                          format="json")
    assert r.status_code == 403 and "only a reviewer or an admin may mark a pass reviewed" in r.json()["detail"]
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[:4] = 1
    r = _client(people["annotator"]).post(f"/api/images/{image.pk}/masks/",
                                          {"file": upload("m.png", mask_bytes(mask)), "status": "reviewed"},
                                          format="multipart")
    assert r.status_code == 403 and "reviewer" in r.json()["detail"]
    assert not Annotation.objects.exists()
    assert _client(people["viewer"]).post(f"/api/images/{image.pk}/annotations/", {"status": "reviewed"},
                                          format="json").status_code == 403


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_mark_passes_reviewed(people, image, role):
    r = _client(people[role]).post(f"/api/images/{image.pk}/annotations/", {"status": "reviewed"}, format="json")
    assert r.status_code == 201 and r.json()["status"] == "reviewed"
    image.refresh_from_db()
    assert image.is_labelled


# --- replacing passes

def _pass(image, user):
    return annotation_create(image=image, user=user)


def _replace(client, image, annotation_id):
    return client.post(f"/api/images/{image.pk}/annotations/", {"replaces": annotation_id, "no_artifacts": True},
                       format="json")


def test_an_annotator_replaces_their_own_pass(people, image):
    own = _pass(image, people["annotator"])
    r = _replace(_client(people["annotator"]), image, own.pk)
    assert r.status_code == 201 and r.json()["previous_id"] == own.pk


def test_an_annotator_cannot_replace_someone_elses_pass(people, image):
    theirs = _pass(image, people["other"])
    model = ModelVersion.objects.create(kind=ModelVersion.Kind.SEGMENTER, name="m", version="1")
    model_pass = annotation_create(image=make_image(data=png_bytes(32, 24, seed=32)), model_version=model)
    for target, on in ((theirs, image), (model_pass, model_pass.image)):
        r = _replace(_client(people["annotator"]), on, target.pk)
        assert r.status_code == 403 and f"annotation {target.pk} is not your pass" in r.json()["detail"]
        target.refresh_from_db()
        assert target.is_current  # nothing changed
    assert Annotation.objects.count() == 2


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_replace_anyones_pass(people, image, role):
    theirs = _pass(image, people["annotator"])
    r = _replace(_client(people[role]), image, theirs.pk)
    assert r.status_code == 201 and r.json()["previous_id"] == theirs.pk and r.json()["user"] == people[role].username


# --- cancelling jobs

def _job(created_by=None, **fields) -> Job:
    return Job.objects.create(kind="dataset_export", created_by=created_by, **fields)


def test_only_the_creator_or_an_admin_cancels_a_job(people):
    mine, theirs, system = _job(people["annotator"]), _job(people["other"]), _job(None)
    annotator = _client(people["annotator"])
    assert annotator.post(f"/api/jobs/{mine.pk}/cancel").status_code == 200
    for job in (theirs, system):
        r = annotator.post(f"/api/jobs/{job.pk}/cancel")
        assert r.status_code == 403 and "only its creator or an admin may cancel it" in r.json()["detail"]
        job.refresh_from_db()
        assert job.status == "queued" and not job.cancel_requested
    assert _client(people["reviewer"]).post(f"/api/jobs/{theirs.pk}/cancel").status_code == 403
    assert _client(people["viewer"]).post(f"/api/jobs/{theirs.pk}/cancel").status_code == 403
    for job in (theirs, system):
        assert _client(people["admin"]).post(f"/api/jobs/{job.pk}/cancel").status_code == 200
    assert set(Job.objects.values_list("status", flat=True)) == {"cancelled"}


def test_jobs_started_through_the_api_record_who_started_them(people):
    campaign = Campaign.objects.create(name="rules")
    r = _client(people["admin"]).post(f"/api/campaigns/{campaign.pk}/reconcile")
    assert r.status_code == 202
    assert Job.objects.get(pk=r.json()["job"]).created_by == people["admin"]


# --- job tracebacks and logs

def test_job_tracebacks_and_logs_are_for_admins_only(people):
    job = _job(people["annotator"], status="failed", traceback="Traceback ...\nRuntimeError: /srv/secret/path",
               log_tail="failed: could not reach db-internal:5432")
    for role in ("viewer", "annotator", "reviewer"):
        client = _client(people[role])
        for body in (client.get("/api/jobs/").json()["results"][0], client.get(f"/api/jobs/{job.pk}/").json()):
            assert body["id"] == job.pk and body["traceback"] is None and body["log_tail"] is None, role
            assert body["status"] == "failed"  # the rest is there
    admin = _client(people["admin"])
    for body in (admin.get("/api/jobs/").json()["results"][0], admin.get(f"/api/jobs/{job.pk}/").json()):
        assert "RuntimeError" in body["traceback"] and "db-internal" in body["log_tail"]
    queued = _job(people["annotator"], log_tail="step 1")
    cancelled = _client(people["annotator"]).post(f"/api/jobs/{queued.pk}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["log_tail"] is None


# --- webhook event payloads

def test_webhook_event_payloads_are_for_admins_only(people):
    WebhookEvent.objects.create(action="ANNOTATION_CREATED", payload={"annotation": {"completed_by": 7},
                                                                      "user": {"email": "lena@example.org"}})
    for role in ("viewer", "annotator", "reviewer"):
        [event] = _client(people[role]).get("/api/labelstudio/events/").json()["results"]
        assert event["action"] == "ANNOTATION_CREATED" and event["payload"] is None, role
    [event] = _client(people["admin"]).get("/api/labelstudio/events/").json()["results"]
    assert event["payload"]["user"]["email"] == "lena@example.org"


# --- export downloads

def test_export_downloads_are_for_admins_only(people, tmp_path, settings):
    from datasets.models import Export
    from datasets.services import dataset_create, dataset_version_build, dataset_version_start

    settings.FLAWMAP_EXPORT_DIR = str(tmp_path)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="rules")))
    archive = tmp_path / "rules.tar.gz"
    archive.write_bytes(b"archive bytes")
    export = Export.objects.create(version=version, format="pal4vst", status=Export.Status.DONE, path=str(archive))
    for role in ("viewer", "annotator", "reviewer"):
        r = _client(people[role]).get(f"/api/exports/{export.pk}/download")
        assert r.status_code == 403 and "needs admin" in r.json()["detail"], role
    r = _client(people["admin"]).get(f"/api/exports/{export.pk}/download")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"archive bytes"


# --- Label Studio users

@pytest.fixture
def unreachable_label_studio(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings.LABEL_STUDIO_URL, settings.LABEL_STUDIO_API_KEY = f"http://127.0.0.1:{port}", "a.b.c"
    settings.LABEL_STUDIO_TIMEOUT = 2.0


def test_a_label_studio_user_never_takes_over_an_existing_username(people, unreachable_label_studio):
    """Label Studio down: the account's email is unknown, so its user is named `ls-<id>`; a Flawmap admin who
    already holds that name keeps it, alone."""
    squatter = _user("ls-42", "admin")
    ls_users_link([42])
    linked = LabelStudioUser.objects.get(ls_user_id=42).user
    assert linked != squatter and linked.username == "ls-42-2"
    assert user_role(linked) == Role.ANNOTATOR and not linked.is_staff and not linked.is_superuser
    assert not squatter.labelstudio_accounts.exists()
    ls_users_link([42])  # linked by id from now on: the same user, nothing new
    assert LabelStudioUser.objects.get(ls_user_id=42).user == linked and User.objects.filter(
        username__startswith="ls-42").count() == 2


@pytest.fixture
def ls(labelstudio_server, settings):
    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key


def test_a_label_studio_email_equal_to_an_admins_username_gets_a_separate_user(ls):
    from annotator.client import ls_client

    me = ls_client().sdk.users.whoami()  # the Label Studio account the server was set up with
    local = me.email.partition("@")[0]
    admin = _user(me.email, "admin")  # a Flawmap admin whose username is that Label Studio email
    ls_users_link([me.id])
    link = LabelStudioUser.objects.select_related("user").get(ls_user_id=me.id)
    assert link.email == me.email and link.user != admin
    assert link.user.username == f"ls-{me.id}-{local}" and user_role(link.user) == Role.ANNOTATOR
    assert not admin.labelstudio_accounts.exists() and user_role(admin) == Role.ADMIN
