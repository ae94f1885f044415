"""Dataset names are slugs: a name becomes part of export file names and NAME@N specs, so one that climbs out of
a folder or names an absolute path is refused with a 400 (API) or an exit code and a message (CLI)."""

import importlib

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from datasets.models import Dataset

pytestmark = pytest.mark.django_db

BAD_NAMES = ["../x", "/tmp/x", "", "x" * 121, "My Set", "-x", "a/b", "café"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_api_refuses_a_name_that_is_not_a_slug(admin_client, name):
    response = admin_client.post("/api/datasets/", {"name": name}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["name"], response.json()  # a message on the field
    assert not Dataset.objects.exists()


def test_the_api_takes_a_slug(admin_client):
    response = admin_client.post("/api/datasets/", {"name": "sd15-faces_v2"}, format="json")
    assert response.status_code == 201 and response.json()["name"] == "sd15-faces_v2"


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "x" * 121])
def test_the_cli_exits_non_zero_with_a_message(name):
    # A CommandError is what `manage.py` prints on stderr before exiting with its returncode.
    with pytest.raises(CommandError, match="dataset name") as refused:
        call_command("dataset_create", name)
    assert refused.value.returncode != 0
    assert not Dataset.objects.exists()


def test_the_migration_turns_old_names_into_unique_slugs():
    # Rows from before the rule (created without validation, as the old code did).
    for name in ["My Set", "my set", "../x", "!!!", "already-fine"]:
        Dataset.objects.create(name=name, splits={"train": 1.0})
    migration = importlib.import_module("datasets.migrations.0003_dataset_name_slug")
    migration.slugify_names(apps, None)
    names = sorted(Dataset.objects.values_list("name", flat=True))
    assert names == ["already-fine", "dataset", "my-set", "my-set-2", "x"]
