"""The CLI path that needs no API: generator_create, generators, tasks and `ingest --create-generator`."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backend.images.models import GeneratedImage, Generator, SynthesisTask
from tests.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path):
    """An ingest folder of its own (tmp_path also holds the test's blob store)."""
    path = tmp_path / "in"
    path.mkdir()
    return path


def run(*args) -> str:
    out = StringIO()
    call_command(*map(str, args), stdout=out)
    return out.getvalue()


def test_generator_create_is_idempotent_and_says_so():
    created = json.loads(run("generator_create", "sdxl", "--version", "1.0", "--family", "diffusion",
                             "--metadata", '{"url": "https://example.org/sdxl"}', "--json"))
    assert created["created"] is True
    assert (created["name"], created["version"], created["family"]) == ("sdxl", "1.0", "diffusion")
    assert created["metadata"] == {"url": "https://example.org/sdxl"}

    again = json.loads(run("generator_create", "sdxl", "--version", "1.0", "--family", "diffusion", "--json"))
    assert again["created"] is False and again["id"] == created["id"]
    assert "already exists" in run("generator_create", "sdxl", "--version", "1.0")
    assert Generator.objects.count() == 1


def test_generator_create_refuses_to_change_an_existing_one_silently():
    run("generator_create", "sdxl", "--family", "diffusion")
    with pytest.raises(CommandError, match="family is 'diffusion', not 'gan'; nothing was changed"):
        run("generator_create", "sdxl", "--family", "gan")
    assert Generator.objects.get().family == "diffusion"


@pytest.mark.parametrize("args, message", [
    (["--metadata", "{not json"], "--metadata is not valid JSON"),
    (["--metadata", "[1, 2]"], "metadata must be a JSON object"),
    (["--version", "v" * 61], "version: Ensure this value has at most 60 characters"),
])
def test_generator_create_rejects_bad_input_and_stores_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("generator_create", "sdxl", *args)
    assert not Generator.objects.exists()


def test_generator_create_rejects_an_unknown_family():
    with pytest.raises(CommandError, match="invalid choice: 'vae'"):
        run("generator_create", "sdxl", "--family", "vae")


def test_generators_lists_names_versions_and_image_counts(folder):
    assert "no generators yet" in run("generators")
    run("generator_create", "sdxl", "--version", "1.0", "--family", "diffusion")
    run("generator_create", "stylegan", "--family", "gan")
    (folder / "a.png").write_bytes(png_bytes(seed=1))
    run("ingest", folder, "--generator", "sdxl", "--task", "text_to_image", "--quiet")

    lines = run("generators").splitlines()
    assert lines[0].split() == ["id", "name", "version", "family", "images"]
    assert [line.split()[1:] for line in lines[1:]] == [
        ["sdxl", "1.0", "diffusion", "1"], ["stylegan", "-", "gan", "0"]
    ]
    listed = json.loads(run("generators", "--json"))
    assert [(g["name"], g["images"]) for g in listed] == [("sdxl", 1), ("stylegan", 0)]


def test_tasks_lists_every_synthesis_task():
    lines = run("tasks").splitlines()
    assert lines[0].split() == ["slug", "conditional", "name"]
    assert [line.split()[0] for line in lines[1:]] == list(SynthesisTask.objects.values_list("slug", flat=True))
    assert "text_to_image" in {t["slug"] for t in json.loads(run("tasks", "--json"))}


def test_ingest_refusal_names_the_flag(folder):
    (folder / "a.png").write_bytes(png_bytes(seed=1))
    with pytest.raises(CommandError, match=r"unknown generator 'newgen'.*pass --create-generator"):
        run("ingest", folder, "--generator", "newgen", "--task", "text_to_image")
    with pytest.raises(CommandError, match="--family only applies with --create-generator"):
        run("ingest", folder, "--generator", "newgen", "--task", "text_to_image", "--family", "gan")
    assert not Generator.objects.exists() and not GeneratedImage.objects.exists()


def test_ingest_create_generator_creates_it_once_and_ingests(folder):
    (folder / "a.png").write_bytes(png_bytes(seed=1))
    (folder / "b.png").write_bytes(png_bytes(seed=2))
    out = run("ingest", folder, "--generator", "newgen", "--generator-version", "v2", "--create-generator",
              "--family", "autoregressive", "--task", "text_to_image", "--quiet")
    assert "created generator 'newgen v2' (family autoregressive)" in out and "ingested 2" in out
    generator = Generator.objects.get()
    assert (generator.name, generator.version, generator.family) == ("newgen", "v2", "autoregressive")
    assert GeneratedImage.objects.filter(generator=generator).count() == 2

    (folder / "c.png").write_bytes(png_bytes(seed=3))
    out = run("ingest", folder, "--generator", "newgen", "--generator-version", "v2", "--create-generator",
              "--task", "text_to_image", "--quiet")
    assert "created generator" not in out and "ingested 1, duplicates 2" in out
    assert Generator.objects.count() == 1


def test_ingest_create_generator_with_a_bad_task_creates_nothing(folder):
    (folder / "a.png").write_bytes(png_bytes(seed=1))
    with pytest.raises(CommandError, match="unknown synthesis task 'nope'"):
        run("ingest", folder, "--generator", "newgen", "--create-generator", "--task", "nope")
    assert not Generator.objects.exists()


def test_ingest_create_generator_without_a_version_uses_the_one_generator_of_that_name(folder):
    run("generator_create", "sd", "--version", "1.5", "--family", "diffusion")
    (folder / "a.png").write_bytes(png_bytes(seed=1))
    out = run("ingest", folder, "--generator", "sd", "--create-generator", "--task", "text_to_image", "--quiet")
    assert "created generator" not in out and "ingested 1" in out
    assert Generator.objects.count() == 1 and GeneratedImage.objects.get().generator.version == "1.5"
    with pytest.raises(CommandError, match="exists with family 'diffusion', not 'gan'"):
        run("ingest", folder, "--generator", "sd", "--create-generator", "--family", "gan", "--task", "text_to_image")
