"""Session fixtures for the VLM tests: a demo export, a tiny offline base VLM, and a briefly tuned one.

Import the fixtures where they are used (`from tests.vlm_support import tiny_vlm_base  # noqa: F401`).
Everything is built on the CPU from code and scikit-image's sample photos; nothing is downloaded.
"""

import json

import pytest

# One answer for every training image of the "constant" export: a tiny model learns it in a few dozen
# steps, so tests that need a model writing well-formed answers (pre-labels, rewards) get one cheaply.
CONSTANT_ANSWER = "9. Localized Blur | box: [4, 6, 40, 30] | blurry patch"


@pytest.fixture(scope="session")
def vlm_demo_export(tmp_path_factory):
    from ml.vlm.demo_data import generate_vlm_demo

    root = tmp_path_factory.mktemp("vlm-demo")
    generate_vlm_demo(root, n=16, size=64, seed=1)
    return root


@pytest.fixture(scope="session")
def tiny_vlm_base(tmp_path_factory):
    from ml.vlm.data import SYNARTIFACT_CLASSES
    from ml.vlm.tiny import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm-base"), SYNARTIFACT_CLASSES, image_size=64, seed=0)


@pytest.fixture(scope="session")
def constant_export(vlm_demo_export, tmp_path_factory):
    """The demo export with every train/test answer replaced by CONSTANT_ANSWER."""
    import shutil

    root = tmp_path_factory.mktemp("vlm-constant") / "export"
    shutil.copytree(vlm_demo_export, root)
    for split in ("train", "val", "test"):
        path = root / f"{split}.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**line, "answer": CONSTANT_ANSWER}) + "\n" for line in lines))
    return root


@pytest.fixture(scope="session")
def tiny_vlm_tuned(constant_export, tiny_vlm_base, tmp_path_factory):
    """(model folder, training metrics) of the tiny base tuned on the constant export."""
    from ml.vlm.train import train

    out = tmp_path_factory.mktemp("tiny-vlm-tuned")
    metrics = train(data=constant_export, base=str(tiny_vlm_base), out=out, max_steps=40, batch_size=4, lr=5e-3,
                    seed=0, device="cpu")
    return out, metrics
