"""The gallery (/browse/): filters against the database, sorts, a fixed number of queries, bad input as a 400 page
naming the filter, and the stored disagreement against hand-made masks."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotator.models import Campaign, CampaignTask
from backend.annotations.services import RegionInput, annotation_create, annotation_mark_deleted
from backend.images.models import GeneratedImage
from backend.quality.models import ImageLabelCheck
from backend.taxonomy.selectors import artifact_class_list
from datasets.models import DatasetItem
from tests.dashboard.browse.gallery_seed import DISAGREEMENT_ORDER, EXPECTED, mask, seed_mask_pairs
from tests.dashboard.conftest import seed_dashboard_history
from tests.dashboard.html import elements

pytestmark = pytest.mark.django_db

URL = reverse("browse:gallery")


@pytest.fixture
def history(admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the stored-pass receivers run, as after a commit
        seeded = seed_dashboard_history(admin_user)
    seeded["images"] = {im.pk: im for im in GeneratedImage.objects.all()}
    return seeded


@pytest.fixture
def pairs(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return seed_mask_pairs()


def shown(client, query: str = "") -> list[int]:
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content.decode()[:2000]
    return [int(f["data-image"]) for f in elements(response.content, "figure")]


def ids(qs) -> set[int]:
    return set(qs.values_list("id", flat=True))


def test_each_filter_selects_what_the_database_holds(client, viewer_user, history):
    client.force_login(viewer_user)
    gen_a, gen_b = history["generators"]
    images = GeneratedImage.objects.all()
    assert set(shown(client)) == ids(images) and len(shown(client)) == 9
    assert set(shown(client, f"generator={gen_a.pk}")) == ids(images.filter(generator=gen_a))
    assert set(shown(client, f"generator={gen_a.pk}&generator={gen_b.pk}")) == ids(images)
    assert set(shown(client, "task=inpainting")) == ids(images.filter(task__slug="inpainting"))
    assert set(shown(client, f"generator={gen_b.pk}&labelled=no")) == ids(images.filter(generator=gen_b,
                                                                                         is_labelled=False))
    assert set(shown(client, "label_source=model")) == ids(images.filter(par_source="model")) != set()
    assert set(shown(client, "label_source=none")) == ids(images.filter(par_source="")) != set()
    # PAR range, bounds included: a5 0.08, b3 0.1 (model), b1 0.15.
    assert set(shown(client, "par_min=0.08&par_max=0.15")) == ids(images.filter(par__gte=0.08, par__lte=0.15))
    assert len(shown(client, "par_min=0.08&par_max=0.15")) == 3
    assert set(shown(client, "task=inpainting&annotator=alice")) == ids(
        images.filter(task__slug="inpainting", annotations__user__username="alice"))
    version = history["dataset_version"]
    for split in ("train", "val", "test"):
        assert set(shown(client, f"dataset_version={version.pk}&split={split}")) == set(
            DatasetItem.objects.filter(version=version, split=split).values_list("image_id", flat=True))
    assert set(shown(client, f"dataset_version={version.pk}")) == set(
        DatasetItem.objects.filter(version=version).values_list("image_id", flat=True))
    today = timezone.localdate()
    assert set(shown(client, f"created_after={today}&created_before={today}")) == ids(images)
    assert shown(client, f"created_after={today + timedelta(days=1)}") == []


def test_campaign_class_and_fix_filters(client, viewer_user, history, django_capture_on_commit_callbacks):
    client.force_login(viewer_user)
    campaign = history["campaign"]
    a2, b4 = GeneratedImage.objects.get(par=0.005), GeneratedImage.objects.get(par_source="")
    CampaignTask.objects.create(campaign=campaign, image=a2, ls_task_id=9001)
    assert shown(client, f"campaign={campaign.pk}") == [a2.pk]
    other = Campaign.objects.create(name="empty")
    assert shown(client, f"campaign={other.pk}") == []

    crack = artifact_class_list().first()
    with django_capture_on_commit_callbacks(execute=True):
        annotation_create(image=b4, user=viewer_user, regions=[RegionInput(1, 1, 9, 9, crack)], no_artifacts=False)
    assert shown(client, f"artifact_class={crack.slug}") == [b4.pk]

    fixed = GeneratedImage.objects.exclude(pk=b4.pk).first()
    fix = GeneratedImage.objects.exclude(pk__in=[b4.pk, fixed.pk]).first()
    fix.fixed_from = fixed
    fix.save(update_fields=["fixed_from"])
    assert shown(client, "has_fix=yes") == [fixed.pk]
    assert set(shown(client, "has_fix=no")) == ids(GeneratedImage.objects.exclude(pk=fixed.pk))


def test_sorts(client, viewer_user, history):
    client.force_login(viewer_user)
    by_par = list(GeneratedImage.objects.filter(par__isnull=False).order_by("-par").values_list("id", flat=True))
    unlabelled = list(GeneratedImage.objects.filter(par__isnull=True).values_list("id", flat=True))
    assert shown(client, "sort=-par") == by_par + unlabelled  # an image without PAR comes last either way
    assert shown(client, "sort=par") == by_par[::-1] + unlabelled
    newest = list(GeneratedImage.objects.order_by("-created_at", "-id").values_list("id", flat=True))
    assert shown(client) == newest and shown(client, "sort=created") == newest[::-1]


def test_page_size_and_paging_links(client, viewer_user, history):
    client.force_login(viewer_user)
    response = client.get(f"{URL}?size=50&sort=-par&page=1")
    info = elements(response.content, "span", id="page-info")[0]
    assert (info["data-page"], info["data-pages"], info["data-total"]) == ("1", "1", "9")
    assert not elements(response.content, "a", id="next-page")
    assert client.get(f"{URL}?size=75").status_code == 400  # 50, 100 or 200
    assert client.get(f"{URL}?page=7").status_code == 200  # past the end: the last page


def test_disagreement_sort_matches_hand_made_masks(client, viewer_user, pairs):
    client.force_login(viewer_user)
    for name, (disagreement, differing) in EXPECTED.items():
        check = ImageLabelCheck.objects.get(image_id=pairs[name])
        assert (check.disagreement, check.differing_pixels) == (
            pytest.approx(disagreement) if disagreement is not None else None, differing), name
    assert shown(client, "sort=disagreement") == [pairs[name] for name in DISAGREEMENT_ORDER]
    cards = {int(f["data-image"]): f for f in elements(client.get(f"{URL}?sort=disagreement").content, "figure")}
    assert cards[pairs["half"]]["data-disagreement"] == "0.5"
    assert cards[pairs["human-only"]]["data-disagreement"] == ""


def test_disagreement_follows_a_new_pass_and_a_deletion(viewer_user, pairs, django_capture_on_commit_callbacks):
    image = GeneratedImage.objects.get(pk=pairs["half"])
    human = image.annotations.filter(user__isnull=False).get()
    with django_capture_on_commit_callbacks(execute=True):
        replacement = annotation_create(image=image, user=human.user, mask=mask(first=200), replaces=human)
    check = ImageLabelCheck.objects.get(image=image)
    assert (check.disagreement, check.differing_pixels, check.human_id) == (0.0, 0, replacement.pk)
    assert check.representative_id == replacement.pk
    with django_capture_on_commit_callbacks(execute=True):
        annotation_mark_deleted(annotation=replacement)
    check.refresh_from_db()
    assert check.human_id is None and check.disagreement is None
    # The thumbnail then shows what the label summary stands on: the newest model pass (the candidate's, 400 px).
    image.refresh_from_db()
    assert (image.par_source, image.par, check.representative.model_version.version) == ("model", 0.4, "2")


def _queries(client, query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"{URL}?{query}").status_code == 200
    return len(captured)


def test_the_number_of_queries_is_the_same_whatever_the_page_size_or_filters(client, viewer_user, history, pairs):
    client.force_login(viewer_user)
    gen_a, _ = history["generators"]
    version = history["dataset_version"]
    crack = artifact_class_list().first()
    everything = (f"generator={gen_a.pk}&task=text_to_image&labelled=yes&label_source=human&par_min=0&par_max=1"
                  f"&artifact_class={crack.slug}&annotator=alice&campaign={history['campaign'].pk}"
                  f"&dataset_version={version.pk}&split=train&created_after=2000-01-01&created_before=2100-01-01"
                  f"&has_fix=no&generator_version=&sort=uncertainty&size=200")
    baseline = _queries(client, "")
    assert len(shown(client, "")) == 14  # every image, each with its own card
    for query in ("size=200", "size=100&sort=disagreement", "sort=-par&label_source=human", everything,
                  "labelled=no", "page=2&size=50"):
        assert _queries(client, query) == baseline, query


@pytest.mark.parametrize(("query", "bad"), [
    ("generator=999999", "generator"),
    ("generator=abc", "generator"),
    ("task=no-such-task", "task"),
    ("par_min=lots", "par_min"),
    ("par_min=1.5", "par_min"),
    ("par_min=0.5&par_max=0.1", "par_max"),
    ("label_source=robot", "label_source"),
    ("sort=colour", "sort"),
    ("split=train", "split"),
    ("created_after=yesterday", "created_after"),
    ("annotator=nobody", "annotator"),
    ("colour=red", "colour"),
    ("page=first", "page"),
])
def test_a_bad_filter_is_a_400_page_naming_it(client, viewer_user, history, query, bad):
    client.force_login(viewer_user)
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    named = [li["data-filter"] for li in elements(response.content, "li")]
    assert bad in named, response.content.decode()
