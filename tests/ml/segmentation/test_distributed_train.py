"""Training in several processes: torchrun starts `ml.segmentation.train --launcher pytorch` twice, mmengine's
distributed runner trains over gloo on the CPU (the same path as NCCL on GPUs, less SyncBN), and rank 0 leaves the
run's one checkpoint. Each run starts two Python processes that import torch and mmseg, so these tests keep to
the tiny config and two iterations."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from ml.segmentation.checkpoint import read_checkpoint
from ml.segmentation.config import PAPER_CONFIG, TINY_CONFIG, ConfigError, load_config
from ml.segmentation.distributed import configure_launcher, split_batch
from ml.segmentation.launch import (
    TrainingProcessFailed,
    follow_processes,
    split_progress,
    torchrun_command,
    train_in_processes,
)


class Stop(Exception):
    pass


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains `text` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_two_gloo_processes_leave_one_checkpoint_that_the_predictor_loads(tmp_path, synthetic_root):
    from ml.segmentation.predictor import Predictor

    work_dir, progress = tmp_path / "run", []
    metrics = train_in_processes(nproc=2, config=TINY_CONFIG, data=synthetic_root, work_dir=work_dir, max_iters=2,
                                 device="cpu", on_progress=lambda *report: progress.append(report))
    assert metrics["processes"] == 2 and metrics["best_iter"] == 2 and metrics["val"]["images"] == 2
    assert [p.relative_to(work_dir) for p in work_dir.rglob("*.pth")] == [Path("best.pth")]
    training = read_checkpoint(work_dir / "best.pth")["meta"]["training"]
    assert training["processes"] == 2 and training["batch_size"] == 16  # the config's batch, 8 per process
    # rank 0's progress came back through the pipe: the start, then iteration 2 with its loss
    assert progress[0] == (0, 2, {})
    assert any(step == 2 and "train/loss" in scalars for step, _, scalars in progress)

    predictions = Predictor(work_dir / "best.pth", device="cpu").predict([np.zeros((40, 56, 3), np.uint8)])
    assert predictions.masks[0].shape == (40, 56)


# A stand-in for the training CLI under torchrun, for what needs no model: each rank notes its pid, then either
# fails the way `train` does or (once every rank is up) rank 0 reports progress and all of them wait.
WORKER = """
import json, os, sys, time
from pathlib import Path

here, rank = Path(__file__).parent, os.environ["RANK"]
(here / f"rank{rank}.pid").write_text(str(os.getpid()))
if sys.argv[1] == "fail":
    sys.stderr.write("error: no images/train in the data folder\\n")  # one write, as train's CLI does
    sys.exit(2)
while len(list(here.glob("rank*.pid"))) < int(os.environ["WORLD_SIZE"]):
    time.sleep(0.1)
if rank == "0":
    os.write(1, ("@flawmap-progress " + json.dumps({"step": 0, "total": 9, "scalars": {}}) + "\\n").encode())
time.sleep(600)
"""


def _torchrun_worker(tmp_path: Path, mode: str) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return [sys.executable, "-m", "ml.segmentation.launch", "--standalone", "--nproc_per_node=2", str(script), mode]


def _wait_for(predicate, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, f"waited {limit} s for {what}"
        time.sleep(0.2)


def test_a_cancel_from_the_progress_callback_stops_torchrun_and_its_workers(tmp_path):
    def cancel(step, total, scalars):
        raise Stop(f"cancelled at {step}/{total}")

    with pytest.raises(Stop, match="cancelled at 0/9"):
        follow_processes(_torchrun_worker(tmp_path, "wait"), on_progress=cancel)
    assert len(list(tmp_path.glob("rank*.pid"))) == 2
    assert _processes_naming(str(tmp_path)) == []  # torchrun and both ranks are gone when it returns


def test_a_failing_process_reports_its_error_line_once(tmp_path):
    with pytest.raises(TrainingProcessFailed, match=r"exit code 1\):\nerror: no images/train") as failed:
        follow_processes(_torchrun_worker(tmp_path, "fail"))
    assert str(failed.value).count("error: ") == 1  # both ranks printed it


def test_torchrun_and_its_workers_die_with_the_process_that_started_them(tmp_path):
    """A worker killed with -9 mid-training must not leave a training holding its GPUs (PR_SET_PDEATHSIG)."""
    starter = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                                "subprocess.Popen(sys.argv[1:]); time.sleep(600)", *_torchrun_worker(tmp_path, "wait")],
                               cwd=Path(__file__).resolve().parents[3])  # the repository: -m ml...
    try:
        _wait_for(lambda: len(list(tmp_path.glob("rank*.pid"))) == 2, "both ranks to start")
    finally:
        starter.kill()
        starter.wait()
    _wait_for(lambda: not _processes_naming(str(tmp_path)), "torchrun and its workers to stop")


def test_a_progress_report_is_found_after_another_process_half_line_and_a_broken_one_is_output():
    report = '@flawmap-progress {"step": 5, "total": 9, "scalars": {"train/loss": 0.5}}\n'
    assert split_progress("UserWarning: x" + report) == ("UserWarning: x", {"step": 5, "total": 9,
                                                                             "scalars": {"train/loss": 0.5}})
    assert split_progress('@flawmap-progress {"step": 5, "tot') == ('@flawmap-progress {"step": 5, "tot', None)
    assert split_progress("iter 5\n") == ("iter 5\n", None)


def test_the_command_runs_the_train_cli_under_torchrun_with_the_pytorch_launcher(tmp_path):
    command = torchrun_command(nproc=4, config=PAPER_CONFIG, data=tmp_path, work_dir=tmp_path / "w", max_iters=10,
                               init=tmp_path / "ade20k.pth", device="cuda", batch_size=8)
    assert command[1:5] == ["-m", "ml.segmentation.launch", "--standalone", "--nproc_per_node=4"]
    train_args = command[command.index("ml.segmentation.train") + 1:]
    assert train_args[:2] == ["--launcher", "pytorch"]
    for flag, value in (("--config", PAPER_CONFIG), ("--device", "cuda"), ("--max-iters", "10"),
                        ("--batch-size", "8"), ("--init", str(tmp_path / "ade20k.pth"))):
        assert train_args[train_args.index(flag) + 1] == value
    with pytest.raises(ValueError, match="at least 1"):
        torchrun_command(nproc=0, config=TINY_CONFIG, data=tmp_path, work_dir=tmp_path)


def test_the_pytorch_launcher_outside_torchrun_is_an_error_naming_torchrun(tmp_path, synthetic_root, capsys,
                                                                          monkeypatch):
    from ml.segmentation.train import main

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    code = main(["--config", TINY_CONFIG, "--data", str(synthetic_root), "--work-dir", str(tmp_path / "w"),
                 "--device", "cpu", "--launcher", "pytorch"])
    assert code == 2
    err = capsys.readouterr().err
    assert "torchrun" in err and "WORLD_SIZE" in err


def test_the_batch_of_an_iteration_is_split_across_processes():
    cfg = Config(dict(train_dataloader=dict(batch_size=16)))
    assert split_batch(cfg, 8) == 16 and cfg.train_dataloader.batch_size == 2
    with pytest.raises(ConfigError, match="multiple of 3"):
        split_batch(Config(dict(train_dataloader=dict(batch_size=16))), 3)


def test_the_paper_config_asks_for_syncbn_and_the_cpu_group_leaves_it_out(monkeypatch):
    """SyncBN runs on GPUs only: over gloo the processes keep BatchNorm, and DDP gets no device ids."""
    import socket

    import torch.distributed as dist

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    for name, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", str(port))):
        monkeypatch.setenv(name, value)
    cfg = load_config(PAPER_CONFIG)
    assert cfg.sync_bn == "torch" and cfg.model.decode_head.norm_cfg.type == "BN"  # one process: plain BN
    configure_launcher(cfg, launcher="pytorch", device_type="cuda")
    assert cfg.launcher == "pytorch" and cfg.sync_bn == "torch" and cfg.env_cfg.dist_cfg.backend == "nccl"
    assert cfg.randomness.diff_rank_seed  # each rank its own crops and flips

    cfg = load_config(PAPER_CONFIG)
    try:
        configure_launcher(cfg, launcher="pytorch", device_type="cpu")  # opens a one-process gloo group
        assert dist.is_initialized() and dist.get_backend() == "gloo"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    assert "sync_bn" not in cfg and cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model_wrapper_cfg == dict(type="MMDistributedDataParallel", device_ids=None)
