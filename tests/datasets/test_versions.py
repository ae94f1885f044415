import json
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.text import slugify

from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import Annotation
from backend.annotations.services import annotation_create
from backend.images.models import GeneratedImage
from backend.mlmodels.models import ModelVersion
from datasets.models import Dataset, DatasetItem, DatasetVersion
from datasets.selectors import version_reference
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from datasets.splits import global_split
from tests.conftest import png_bytes
from tests.datasets.helpers import bulk_images, labelled_image
from tests.factories import GeneratorFactory, make_image

pytestmark = pytest.mark.django_db


def snapshot(dataset, note=""):
    return dataset_version_build(version=dataset_version_start(dataset=dataset, note=note))


def test_splits_stay_put_when_the_dataset_grows(annotator_user):
    gen = GeneratorFactory()
    first_batch = [labelled_image(annotator_user, seed=i, generator=gen, size=(8, 8), rows=1) for i in range(1000)]
    dataset = dataset_create(name="grow")
    v1 = snapshot(dataset)
    for i in range(1000, 2000):
        labelled_image(annotator_user, seed=i, generator=gen, size=(8, 8), rows=1)
    v2 = snapshot(dataset)
    assert v2.parent_id == v1.pk
    before = dict(DatasetItem.objects.filter(version=v1).values_list("image_id", "split"))
    after = dict(DatasetItem.objects.filter(version=v2).values_list("image_id", "split"))
    assert len(before) == 1000 and len(after) == 2000
    assert sum(before[i.pk] != after[i.pk] for i in first_batch) == 0
    for version, n in ((v1, 1000), (v2, 2000)):
        counts = version.counts["splits"]
        for split, share in {"train": 0.8, "val": 0.1, "test": 0.1}.items():
            assert abs(counts[split] / n - share) <= 0.02, (version.number, counts)
    assert set(v2.counts["by_task"]["text_to_image"]) == {"train", "val", "test"}


def test_prompt_group_key_keeps_near_duplicates_together(annotator_user):
    for i in range(60):
        labelled_image(annotator_user, seed=i, prompt=f"a cat number {i % 12}")
    dataset = dataset_create(name="by-prompt", group_key=Dataset.GroupKey.PROMPT)
    version = snapshot(dataset)
    by_prompt = {}
    for prompt, split in DatasetItem.objects.filter(version=version).values_list("image__prompt", "split"):
        by_prompt.setdefault(prompt, set()).add(split)
    assert len(by_prompt) == 12 and all(len(s) == 1 for s in by_prompt.values())


def test_label_policies(annotator_user, admin_user):
    image = labelled_image(annotator_user, seed=1)
    newest = annotation_create(image=image, user=admin_user, no_artifacts=True, status=Annotation.Status.REVIEWED)
    model_only = make_image(data=png_bytes(seed=2))
    model = ModelVersion.objects.create(kind="segmenter", name="m", version="1")
    annotation_create(image=model_only, model_version=model,
                      mask=mask_array_to_canonical(__import__("numpy").zeros((48, 64), bool)))
    make_image(data=png_bytes(seed=3))  # never labelled

    def items(**kw):
        version = snapshot(dataset_create(name="p-" + slugify(json.dumps(kw)), **kw))  # names are slugs
        return {row.image_id: row for row in DatasetItem.objects.filter(version=version)}

    default = items()
    assert set(default) == {image.pk} and default[image.pk].annotation_id == newest.pk
    assert items(label_policy="reviewed_only")[image.pk].annotation_id == newest.pk
    with_model = items(label_policy="allow_model")
    assert with_model[model_only.pk].label_source == "model" and with_model[image.pk].label_source == "human"
    everything = items(label_status="any")
    assert len(everything) == 3 and sum(1 for r in everything.values() if r.annotation_id is None) == 2
    assert set(items(classes=["localized-blur"])) == set()  # newest pass (no artifacts) has no blur region


def test_failed_snapshot_leaves_no_version(annotator_user, monkeypatch):
    labelled_image(annotator_user, seed=1)
    dataset = dataset_create(name="fails")

    def boom(*args, **kwargs):
        assert DatasetItem.objects.exists()  # the items are written: their rows must go with the failed version
        raise RuntimeError("disk full")

    monkeypatch.setattr("datasets.services.share_deviation", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        snapshot(dataset)
    assert not DatasetVersion.objects.exists() and not DatasetItem.objects.exists()


def test_api_snapshot_diff_and_immutability(admin_client, annotator_client, annotator_user,
                                           django_capture_on_commit_callbacks):
    a = labelled_image(annotator_user, seed=1)
    b = labelled_image(annotator_user, seed=2)
    r = admin_client.post("/api/datasets/", {"name": "api-ds"}, format="json")
    assert r.status_code == 201, r.content
    ds = r.json()["id"]
    assert annotator_client.post("/api/datasets/", {"name": "x"}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # eager Celery runs the build job
        r = admin_client.post(f"/api/datasets/{ds}/versions/", {"note": "first"}, format="json")
    assert r.status_code == 202 and r.json()["status"] == "building"
    assert admin_client.get(f"/api/datasets/{ds}/versions/1/").json()["status"] == "ready"
    [build] = admin_client.get("/api/jobs/?kind=dataset_version_build").json()["results"]
    assert (build["status"], build["queue"], build["result"]["number"]) == ("succeeded", "io", 1)

    c = labelled_image(annotator_user, seed=3)
    annotation_create(image=b, user=annotator_user, no_artifacts=True)  # relabel b
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/api/datasets/{ds}/versions/", {}, format="json")
    diff = admin_client.get(f"/api/datasets/{ds}/versions/1/diff/2").json()
    assert diff["counts"] == {"added": 1, "removed": 0, "relabelled": 1, "moved_split": 0}
    assert diff["added"][0]["image_id"] == c.pk and diff["relabelled"][0]["image_id"] == b.pk
    assert [v["number"] for v in admin_client.get(f"/api/datasets/{ds}/versions/").json()["results"]] == [1, 2]

    # images in a version can't be deleted; a version a model was trained on can't be deleted
    r = admin_client.delete(f"/api/images/{a.pk}/")
    assert r.status_code == 409 and "can't be deleted" in r.json()["detail"]
    ModelVersion.objects.create(kind="segmenter", name="m", version="1",
                                trained_on=version_reference(DatasetVersion.objects.get(number=2)))
    r = admin_client.delete(f"/api/datasets/{ds}/versions/2/")
    assert r.status_code == 400 and "referenced by model version" in r.json()["detail"]
    assert admin_client.get(f"/api/datasets/{ds}/versions/2/").status_code == 200


def test_cli_create_snapshot(annotator_user, tmp_path):
    gen = GeneratorFactory(name="cli-gen", version="")
    labelled_image(annotator_user, seed=1, generator=gen)
    call_command("dataset_create", "cli-ds", "--generator", "cli-gen", "--task", "text_to_image", stdout=StringIO())
    out = StringIO()
    call_command("dataset_snapshot", "cli-ds", "--note", "n", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["version"] == 1 and result["counts"]["items"] == 1 and len(result["manifest_hash"]) == 64
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown generator"):
        call_command("dataset_create", "x", "--generator", "nope")
    with pytest.raises(CommandError, match="no dataset named"):
        call_command("dataset_snapshot", "nope")
    assert Counter(DatasetVersion.objects.values_list("status", flat=True)) == {"ready": 1}


def test_abandoned_building_versions_are_cleaned_up(annotator_user):
    from datetime import timedelta

    from django.utils import timezone

    from datasets.services import dataset_versions_abandoned_delete

    labelled_image(annotator_user, seed=1)
    dataset = dataset_create(name="crash")
    stuck = dataset_version_start(dataset=dataset)  # its worker "died": never built
    DatasetVersion.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=7))
    fresh = dataset_version_start(dataset=dataset)
    assert dataset_versions_abandoned_delete() == 1
    assert list(DatasetVersion.objects.values_list("pk", flat=True)) == [fresh.pk]


def splits_of(version):
    return dict(DatasetItem.objects.filter(version=version).values_list("image_id", "split"))


def test_overlapping_datasets_give_shared_images_the_same_split():
    """Acceptance (#22): 1000 images of two generators; a dataset of all of them, one of one generator's 500
    (a filtered subset) and one of that subset with a 20 % test share. Every shared image has the same split
    in the first two, and no image is train in one dataset and test in another."""
    gen_a, gen_b = GeneratorFactory(), GeneratorFactory()
    bulk_images(1000, generators=[gen_a, gen_b])
    everything = snapshot(dataset_create(name="all", label_status="any"))
    subset = snapshot(dataset_create(name="one-gen", label_status="any", generators=[gen_a]))
    wider = snapshot(dataset_create(name="one-gen-wide-test", label_status="any", generators=[gen_a],
                                    splits={"train": 0.7, "val": 0.1, "test": 0.2}))
    whole, part, wide = splits_of(everything), splits_of(subset), splits_of(wider)
    assert len(whole) == 1000 and len(part) == len(wide) == 500 and set(part) <= set(whole)
    assert sum(whole[i] != part[i] for i in part) == 0
    crossings = sum({whole[i], other[i]} == {"train", "test"} for other in (part, wide) for i in other)
    assert crossings == 0
    assert all(wide[i] == "test" for i in part if part[i] == "test")  # a larger test share only adds to test
    for version in (everything, subset):
        assert set(version.counts["split_deviation"]) == {"train", "val", "test"}
        n = version.counts["items"]
        for split, deviation in version.counts["split_deviation"].items():
            assert deviation == pytest.approx(version.counts["splits"][split] / n - version.dataset.splits[split])
            assert abs(deviation) <= 0.05  # binomial: 3 standard deviations at n = 500 are 4.2 points for train


def test_a_fixed_image_joins_its_sources_group():
    gen = GeneratorFactory()
    sources = bulk_images(100, generators=[gen])
    fixes = bulk_images(100, generators=[gen], start=100)
    refixes = bulk_images(100, generators=[gen], start=200)
    for source, fix, refix in zip(sources, fixes, refixes, strict=True):
        fix.fixed_from, refix.fixed_from = source, fix  # a fix of a fix still belongs to the first source
    GeneratedImage.objects.bulk_update(fixes + refixes, ["fixed_from"])
    version = snapshot(dataset_create(name="fixes", label_status="any"))
    items = {i.image_id: i for i in DatasetItem.objects.filter(version=version)}
    for source, fix, refix in zip(sources, fixes, refixes, strict=True):
        assert items[source.pk].group == items[fix.pk].group == items[refix.pk].group
        assert items[source.pk].split == items[fix.pk].split == items[refix.pk].split
    assert len({i.split for i in items.values()}) == 3  # 100 groups: not one split for all by accident


def test_frozen_items_keep_their_split_and_differences_are_reported(settings, admin_client):
    gen = GeneratorFactory()
    first = bulk_images(300, generators=[gen])
    settings.FLAWMAP_SPLIT_SEED = "the-seed-before"
    dataset = dataset_create(name="reseeded", label_status="any")
    v1 = snapshot(dataset)
    settings.FLAWMAP_SPLIT_SEED = "the-seed-now"
    added = bulk_images(100, generators=[gen], start=300)
    out = StringIO()
    call_command("dataset_snapshot", "reseeded", stdout=out)
    v2 = DatasetVersion.objects.get(dataset=dataset, number=2)
    before, after = splits_of(v1), splits_of(v2)
    assert all(after[i.pk] == before[i.pk] for i in first)  # versions are immutable; a test set stays put
    groups = dict(DatasetItem.objects.filter(version=v2).values_list("image_id", "group"))
    now = {pk: global_split(g, shares=dataset.splits, seed="the-seed-now") for pk, g in groups.items()}
    assert all(after[i.pk] == now[i.pk] for i in added)  # new items: their global split
    differing = sorted(i.blob_id for i in first if before[i.pk] != now[i.pk])
    report = v2.counts["split_differs"]
    assert report["count"] == len(differing) > 50
    assert [row["image_sha256"] for row in report["items"]] == differing[:100]
    assert all(row["global_split"] == now[row["image_id"]] != row["split"] for row in report["items"])
    assert v1.counts["split_differs"] == {"count": 0, "items": []}
    text = out.getvalue()
    assert f"{len(differing)} item(s) kept a split from reseeded@v1 other than their global one" in text
    assert "share deviation from target, points: train " in text

    # A new dataset over the same images: the CLI says which images existing versions hold under other splits.
    out = StringIO()
    call_command("dataset_create", "fresh-look", "--label-status", "any", stdout=out)
    assert f"{2 * len(differing)} item(s) of existing versions hold an image it selects under another split" \
        in out.getvalue()  # each differing image is in v1 and in v2

    detail = admin_client.get(f"/api/datasets/{dataset.pk}/versions/2/").json()
    assert detail["split_deviation"] == v2.counts["split_deviation"]
    # a version stored before the deviation was: the API works it out from the split counts
    counts = {k: v for k, v in v1.counts.items() if k not in ("split_deviation", "split_differs")}
    DatasetVersion.objects.filter(pk=v1.pk).update(counts=counts)
    old = admin_client.get(f"/api/datasets/{dataset.pk}/versions/1/").json()["split_deviation"]
    assert old == pytest.approx({s: counts["splits"][s] / 300 - dataset.splits[s] for s in dataset.splits})
