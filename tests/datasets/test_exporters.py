"""COCO, SynArtifact, VLM JSONL and Label Studio exports of one small dataset version, checked end to end."""

import hashlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.converter import results_to_labels
from backend.annotations.masks import mask_array_to_canonical
from backend.annotations.models import MaskLabel
from backend.annotations.services import RegionInput, annotation_create
from backend.core.blobs import blob_read
from backend.mlmodels.models import ModelVersion
from backend.taxonomy.selectors import artifact_class_list
from datasets.export_run import export_to_path
from datasets.models import Dataset, DatasetItem
from datasets.services import dataset_create, dataset_version_build, dataset_version_start
from datasets.vlm_template import answer, int_box, question
from tests.conftest import png_bytes
from tests.factories import make_image

pytestmark = pytest.mark.django_db

W, H = 64, 48
FORMATS = ["coco", "synartifact", "vlm-jsonl", "labelstudio"]


def _rect(mask, x1, y1, x2, y2):
    mask[y1:y2, x1:x2] = True


@pytest.fixture
def version(annotator_user):
    """Six images, one per case; returns the built version and, per case name, what was stored."""
    cls = {c.slug: c for c in artifact_class_list()}
    cases = {}

    def add(name, seed, *, mask=None, regions=(), user=annotator_user, model_version=None, **kwargs):
        image = make_image(data=png_bytes(W, H, seed=seed))
        annotation = None
        if regions or mask is not None or kwargs or model_version:
            annotation = annotation_create(
                image=image, user=None if model_version else user, model_version=model_version,
                mask=None if mask is None else mask_array_to_canonical(mask),
                regions=[RegionInput(x1, y1, x2, y2, cls[slug], caption) for x1, y1, x2, y2, slug, caption in regions],
                **kwargs,
            )
        cases[name] = {"image": image, "annotation": annotation, "sha": image.blob_id,
                       "regions": [(cls[slug].code, (x1, y1, x2, y2), caption)
                                   for x1, y1, x2, y2, slug, caption in regions]}

    # painted artifacts covered by boxes (one float box, two overlapping), plus stray pixels no box touches
    full = np.zeros((H, W), bool)
    _rect(full, 10, 5, 25, 15)
    _rect(full, 30, 20, 45, 30)
    _rect(full, 2, 40, 6, 43)
    add("full", 1, mask=full, lead_time=12.5, regions=[
        (10, 5, 25, 15, "localized-blur", "smeared cheek — blurry"),
        (29.5, 19.6, 45, 30, "illegible-letters", "garbled | sign text"),
        (20, 10, 35, 25, "abnormal-texture", ""),
    ])
    mask_only = np.zeros((H, W), bool)
    _rect(mask_only, 0, 0, 10, 10)
    add("mask_only", 2, mask=mask_only)
    add("clean", 3, no_artifacts=True)
    add("boxes_only", 4, regions=[(1, 2, 30, 40, "duplicated-components", "extra finger")])
    add("unlabelled", 5)
    model = ModelVersion.objects.create(kind="segmenter", name="tiny", version="1")
    predicted = np.zeros((H, W), bool)
    _rect(predicted, 40, 0, 64, 8)
    add("model", 6, mask=predicted, model_version=model, score=0.75,
        regions=[(40, 0, 64, 8, "chromatic-irregularity", "")])

    ds = dataset_create(name="exporters", label_status=Dataset.LabelStatus.ANY,
                        label_policy=Dataset.LabelPolicy.ALLOW_MODEL,
                        splits={"train": 0.5, "val": 0.25, "test": 0.25})
    v = dataset_version_build(version=dataset_version_start(dataset=ds))
    splits = dict(DatasetItem.objects.filter(version=v).values_list("image_sha256", "split"))
    for case in cases.values():
        case["split"] = splits[case["sha"]]
        masks = MaskLabel.objects.filter(annotation=case["annotation"]) if case["annotation"] else []
        case["mask"] = (np.asarray(Image.open(io.BytesIO(blob_read(masks[0].blob)))) != 0) if masks else None
    assert len(splits) == 6 and len(set(splits.values())) > 1  # several splits get used
    return v, cases


def by_sha(cases):
    return {case["sha"]: name for name, case in cases.items()}


def image_bytes(case):
    return blob_read(case["image"].blob)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_has_meta_files_and_correct_checksums(version, tmp_path, fmt):
    v, _ = version
    out = export_to_path(version=v, fmt=fmt, out=tmp_path / fmt)
    assert (out / "manifest.json").is_file() and (out / "DATASHEET.md").is_file()
    assert json.loads((out / "manifest.json").read_text())["format"] == fmt
    listed = {}
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        listed[rel] = digest
    data_files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "manifest.json", "DATASHEET.md", "SHA256SUMS"}
    assert set(listed) == data_files and data_files
    for rel, digest in listed.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest


def test_exports_are_deterministic(version, tmp_path):
    v, _ = version
    for fmt in FORMATS:
        first = export_to_path(version=v, fmt=fmt, out=tmp_path / f"{fmt}-1")
        second = export_to_path(version=v, fmt=fmt, out=tmp_path / f"{fmt}-2")
        assert (first / "SHA256SUMS").read_text() == (second / "SHA256SUMS").read_text()


def test_coco_loads_with_pycocotools_and_masks_equal_the_stored_masks(version, tmp_path):
    v, cases = version
    out = export_to_path(version=v, fmt="coco", out=tmp_path / "coco")
    classes = list(artifact_class_list())
    names = {int(c.code): c.name for c in classes}
    seen = set()
    for split in ("train", "val", "test"):
        coco = COCO(str(out / "annotations" / f"instances_{split}.json"))
        cats = coco.loadCats(coco.getCatIds())
        assert {c["id"]: c["name"] for c in cats} == {**names, 0: "artifact"}
        assert all(c["supercategory"] == "artifact" and c["definition"] for c in cats)
        for img in coco.loadImgs(coco.getImgIds()):
            name = by_sha(cases)[img["sha256"]]
            case = cases[name]
            seen.add(name)
            assert case["split"] == split
            assert (img["width"], img["height"]) == (W, H)
            assert img["label_source"] == ("model" if name == "model" else "human")
            assert (out / "images" / split / img["file_name"]).read_bytes() == image_bytes(case)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            classified = [a for a in anns if a["category_id"] != 0]
            got = sorted((str(a["category_id"]), tuple(a["bbox"]), a["attributes"]["caption"]) for a in classified)
            want = sorted((code, (x1, y1, x2 - x1, y2 - y1), cap) for code, (x1, y1, x2, y2), cap in case["regions"])
            assert got == want
            assert all(a["iscrowd"] == 0 for a in anns)
            if case["mask"] is None:
                assert anns == classified and all(a["segmentation"] == [] for a in anns)
                assert all(a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3]) for a in anns)
                continue
            union = np.zeros((H, W), bool)
            for a in anns:
                decoded = coco.annToMask(a).astype(bool)
                assert a["area"] == decoded.sum()
                x, y, w, h = a["bbox"]
                ys, xs = np.nonzero(decoded)  # each piece lies within the pixels its box touches
                assert xs.min() >= int(x) and ys.min() >= int(y) and xs.max() < x + w and ys.max() < y + h
                union |= decoded
            assert np.array_equal(union, case["mask"]), name
            generic = [a for a in anns if a["category_id"] == 0]
            if name == "full":  # the stray pixels no box touches
                assert len(generic) == 1 and generic[0]["bbox"] == [2, 40, 4, 3] and generic[0]["area"] == 12
            elif name == "mask_only":
                assert len(generic) == 1 and not classified and generic[0]["area"] == 100
            else:
                assert not generic
    assert seen == {"full", "mask_only", "clean", "boxes_only", "model"}  # unlabelled is left out


def test_coco_rle_is_plain_json_that_pycocotools_decodes(version, tmp_path):
    v, cases = version
    out = export_to_path(version=v, fmt="coco", out=tmp_path / "coco")
    split = cases["full"]["split"]
    data = json.loads((out / "annotations" / f"instances_{split}.json").read_text())
    img_id = next(i["id"] for i in data["images"] if i["sha256"] == cases["full"]["sha"])
    blur = next(a for a in data["annotations"] if a["image_id"] == img_id and a["category_id"] == 9)
    assert isinstance(blur["segmentation"]["counts"], str) and blur["segmentation"]["size"] == [H, W]
    rle = {"size": blur["segmentation"]["size"], "counts": blur["segmentation"]["counts"].encode()}
    expected = np.zeros((H, W), bool)
    expected[5:15, 10:25] = cases["full"]["mask"][5:15, 10:25]
    assert np.array_equal(mask_utils.decode(rle).astype(bool), expected)
    assert blur["attributes"]["caption"] == "smeared cheek — blurry"


def test_synartifact_json_per_image(version, tmp_path):
    v, cases = version
    out = export_to_path(version=v, fmt="synartifact", out=tmp_path / "syn")
    files = {p.stem: p for p in (out / "annotations").rglob("*.json")}
    assert set(files) == {c["sha"] for n, c in cases.items() if n != "unlabelled"}
    for name, case in cases.items():
        if name == "unlabelled":
            continue
        path = files[case["sha"]]
        assert path.parent.name == case["split"]
        image = out / "images" / case["split"] / (case["sha"] + ".png")
        assert image.read_bytes() == image_bytes(case)
        doc = json.loads(path.read_text())
        assert set(doc) == {"Artifacts annotation", "Other artifacts caption"}
        assert doc["Other artifacts caption"] == ""
        got = [(e["artifacts_class"], e["rect_start"] + e["rect_end"], e["artifacts_caption"])
               for e in doc["Artifacts annotation"]]
        assert all(isinstance(n, int) for _, box, _ in got for n in box)
        assert all(isinstance(code, str) for code, _, _ in got)
        want = [(code, [round(v + 1e-9) for v in box], cap) for code, box, cap in case["regions"]]
        assert sorted(got) == sorted(want)
    full = json.loads(files[cases["full"]["sha"]].read_text())["Artifacts annotation"]
    assert [e["artifacts_class"] for e in full] == ["1", "9", "11"]  # sorted by code
    assert full[0] == {"rect_start": [30, 20], "rect_end": [45, 30], "artifacts_caption": "garbled | sign text",
                       "artifacts_class": "1"}


def parse_answer(text):
    """A tiny parser of the answer format (the real, strict one belongs to the VLM trainer)."""
    if text == "none":
        return set()
    found = set()
    for line in text.split("\n"):
        parts = line.split(" | ", 2)
        m_head = re.fullmatch(r"(\w+)\. (.+)", parts[0])
        m_box = re.fullmatch(r"box: \[(\d+), (\d+), (\d+), (\d+)\]", parts[1])
        assert m_head and m_box, line
        found.add((m_head[1], m_head[2], tuple(int(g) for g in m_box.groups()), parts[2] if len(parts) > 2 else ""))
    return found


def test_vlm_jsonl_answers_parse_back_to_the_regions(version, tmp_path):
    v, cases = version
    out = export_to_path(version=v, fmt="vlm-jsonl", out=tmp_path / "vlm")
    classes = [(c.code, c.slug, c.name, c.definition) for c in artifact_class_list()]
    names = {code: name for code, _, name, _ in classes}
    lines = {}
    for split in ("train", "val", "test"):
        for raw in (out / f"{split}.jsonl").read_text().splitlines():
            line = json.loads(raw)
            assert line["image"].startswith(f"images/{split}/")
            lines[line["sha256"]] = line
    # unlabelled and painted-but-unclassified images have no truthful answer in this template
    want_names = {"full", "clean", "boxes_only", "model"}
    assert set(lines) == {cases[n]["sha"] for n in want_names}
    for name in want_names:
        case, line = cases[name], lines[cases[name]["sha"]]
        assert (out / line["image"]).read_bytes() == image_bytes(case)
        assert line["question"] == question(classes)
        assert line["label_source"] == ("model" if name == "model" else "human")
        want = {(code, names[code], tuple(int_box(box)), cap) for code, box, cap in case["regions"]}
        assert parse_answer(line["answer"]) == want
    assert lines[cases["clean"]["sha"]]["answer"] == "none"
    q = question(classes)
    assert q.startswith("Which of these artifacts does the image show? Options: 1. Illegible Letters: ")
    assert all(f"{c.code}. {c.name}: " in q for c in artifact_class_list()) and "`none`" in q


def test_vlm_template_is_deterministic_and_sorted():
    classes = [("10", "b", "Bee", "Two\nlines."), ("2", "a", "Ay", "One.")]
    q = question(classes)
    assert "Options: 2. Ay: One; 10. Bee: Two lines." in q and "\n" not in q
    regions = [{"bbox": [5.5, 1, 9, 4], "class": "b", "code": "10", "caption": "  x\n y "},
               {"bbox": [3, 3, 4, 4], "class": "a", "code": "2", "caption": ""},
               {"bbox": [0.2, 0, 0.4, 2], "class": "a", "code": "2", "caption": "tiny"}]
    assert answer(regions, classes) == ("2. Ay | box: [0, 0, 1, 2] | tiny\n"
                                        "2. Ay | box: [3, 3, 4, 4]\n"
                                        "10. Bee | box: [6, 1, 9, 4] | x y")
    assert answer(list(reversed(regions)), classes) == answer(regions, classes)
    assert answer([], classes) == "none"


def test_labelstudio_tasks_round_trip_through_the_converter(version, tmp_path):
    v, cases = version
    out = export_to_path(version=v, fmt="labelstudio", out=tmp_path / "ls")
    tasks = json.loads((out / "tasks.json").read_text())
    assert len(tasks) == 6
    names = {c.code: c.name for c in artifact_class_list()}
    by_task = {t["data"]["sha256"]: t for t in tasks}
    for name, case in cases.items():
        task = by_task[case["sha"]]
        assert task["data"] == {"image": f"images/{case['split']}/{case['sha']}.png",
                                "flawmap_image_id": case["image"].pk, "sha256": case["sha"], "split": case["split"]}
        assert (out / task["data"]["image"]).read_bytes() == image_bytes(case)
        if name == "unlabelled":
            assert task["annotations"] == [] and "predictions" not in task
            continue
        if name == "model":
            assert task["annotations"] == []
            (entry,) = task["predictions"]
            assert entry["model_version"] == "segmenter:tiny@1" and entry["score"] == pytest.approx(0.75)
        else:
            (entry,) = task["annotations"]
            assert entry.get("lead_time") == (12.5 if name == "full" else None)
        labels = results_to_labels(entry["result"], width=W, height=H)
        if case["mask"] is None or not case["mask"].any():
            assert labels.mask is None
        else:
            assert np.array_equal(labels.mask, case["mask"]), name
        assert labels.no_artifacts == (name == "clean")
        got = sorted(labels.regions, key=lambda r: (r.label, r.x1))
        want = sorted(((names[code], box, cap) for code, box, cap in case["regions"]), key=lambda r: (r[0], r[1][0]))
        assert len(got) == len(want)
        for region, (label, box, caption) in zip(got, want):
            assert (region.label, region.caption) == (label, caption)
            assert (region.x1, region.y1, region.x2, region.y2) == pytest.approx(box, abs=1)


def test_pal4vst_export_of_images_labelled_clean_only(annotator_user, tmp_path):
    """A split whose labels are all "no artifacts" (no mask stored) still gets its all-zero label files."""
    for i in range(3):
        annotation_create(image=make_image(data=png_bytes(W, H, seed=900 + i)), user=annotator_user,
                          no_artifacts=True)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(name="clean-only")))
    out = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "out")
    labels = sorted((out / "labels").rglob("*.png"))
    assert len(labels) == 3
    for label in labels:
        assert not np.asarray(Image.open(label)).any()
        assert (out / "images" / label.parent.name / label.name).exists() or any(
            (out / "images" / label.parent.name).glob(label.stem + ".*"))


def test_pal4vst_export_names_each_images_task_and_generator_for_the_evaluator(annotator_user, tmp_path):
    """The flat layout has no task folders: items.jsonl carries task and generator, and evaluate_split groups by
    them (a per-task and per-generator score for every backend-trained model)."""
    from ml.segmentation.evaluation import evaluate_split
    from ml.segmentation.predictor import Predictor
    from tests.datasets.helpers import labelled_image
    from tests.factories import GeneratorFactory, left_half_torchscript

    a, b = GeneratorFactory(name="gen-a"), GeneratorFactory(name="gen-b")
    for i in range(6):
        labelled_image(annotator_user, seed=700 + i, generator=a if i % 2 else b,
                       task_slug="inpainting" if i < 3 else "text_to_image", size=(24, 16), rows=4)
    version = dataset_version_build(version=dataset_version_start(dataset=dataset_create(
        name="tasks-and-generators", splits={"test": 1.0})))
    out = export_to_path(version=version, fmt="pal4vst", out=tmp_path / "out")
    lines = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and {(row["task"], row["generator"]) for row in lines} == {
        ("inpainting", "gen-a 1.0"), ("inpainting", "gen-b 1.0"), ("text_to_image", "gen-a 1.0"),
        ("text_to_image", "gen-b 1.0")}
    assert all((out / "images" / row["image"]).is_file() and row["split"] == "test" for row in lines)

    result = evaluate_split(Predictor(left_half_torchscript(tmp_path / "lh.pt"), device="cpu"), out, "test")
    # 4 labelled rows of 16, the left 12 of 24 columns predicted: IoU 48 / (48 + 144 + 48) in every group
    assert set(result["tasks"]) == {"inpainting", "text_to_image"}
    assert set(result["generators"]) == {"gen-a 1.0", "gen-b 1.0"}
    assert result["generators"]["gen-a 1.0"]["images"] == 3
    assert result["tasks"]["inpainting"]["artifact_IoU"] == pytest.approx(0.2, abs=1e-6)
