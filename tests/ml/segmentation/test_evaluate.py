import json

from ml.segmentation.evaluate import main as evaluate_main


def test_evaluate_cli_reports_overall_and_per_task_scores(tmp_path, trained, synthetic_root, capsys):
    # the synthetic test split, split across two task sub-folders
    data = tmp_path / "data"
    for i, image in enumerate(sorted((synthetic_root / "images" / "test").glob("*.png"))):
        task = "faces" if i % 2 else "scenes"
        for kind, src in (("images", image), ("labels", synthetic_root / "labels" / "test" / image.name)):
            target = data / kind / "test" / task / image.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    out = tmp_path / "metrics.json"
    code = evaluate_main(["--checkpoint", str(trained[0] / "best.pth"), "--data", str(data), "--split", "test",
                          "--device", "cpu", "--out", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["split"] == "test" and printed["images"] == 2
    assert set(printed["tasks"]) == {"faces", "scenes"}


def test_evaluate_cli_names_a_missing_split(tmp_path, trained, capsys):
    code = evaluate_main(["--checkpoint", str(trained[0] / "best.pth"), "--data", str(tmp_path), "--split", "test"])
    assert code == 2
    assert "images/test" in capsys.readouterr().err

