"""mmseg components registered for Flawmap's configs (`custom_imports` in configs/_base_/default_runtime.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS, HOOKS, METRICS, MODELS

from ml.pal4vst_layout import IMAGE_SUFFIXES, task_of

from .checkpoint import load_matching_weights, plain_meta, read_checkpoint, state_dict_of
from .metrics import CLASS_NAMES, IGNORE_INDEX, SplitScorer, image_counts


@DATASETS.register_module()
class PAL4VSTDataset(BaseSegDataset):
    """images/{split}/**/NAME.{png,jpg,jpeg} with labels/{split}/**/NAME.png (0 clean, 1 artifact, 255 ignore).

    Sub-folders are allowed (PAL4VST groups images by synthesis task) and become each sample's `task`.
    An image without its label is an error naming the file, not a silently smaller dataset.
    """

    METAINFO = dict(classes=CLASS_NAMES, palette=[[0, 0, 0], [255, 0, 0]])

    def __init__(self, img_suffix=IMAGE_SUFFIXES, seg_map_suffix=".png", reduce_zero_label=False, **kwargs):
        super().__init__(
            img_suffix=tuple(img_suffix), seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
            **kwargs,
        )

    def load_data_list(self) -> list[dict]:
        img_dir = Path(self.data_prefix.get("img_path", ""))
        ann_dir = Path(self.data_prefix.get("seg_map_path", ""))
        if not img_dir.is_dir():
            raise FileNotFoundError(f"image folder not found: {img_dir}")
        images = sorted(
            p for p in img_dir.rglob("*") if p.is_file() and p.suffix.lower() in self.img_suffix
        )
        data_list, missing = [], []
        for image in images:
            relative = image.relative_to(img_dir)
            label = ann_dir / relative.with_suffix(self.seg_map_suffix)
            if not label.is_file():
                missing.append(str(label))
                continue
            data_list.append(dict(
                img_path=str(image), seg_map_path=str(label), label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label, seg_fields=[], task=task_of(relative),
            ))
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} image(s) in {img_dir} have no label, e.g. {missing[0]}"
            )
        return data_list


@METRICS.register_module()
class ArtifactIoUMetric(BaseMetric):
    """mIoU, artifact-class IoU, clean IoU, pixel accuracy; per task when samples carry one."""

    default_prefix = ""

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample["pred_sem_seg"]["data"].squeeze().cpu().numpy()
            gt = sample["gt_sem_seg"]["data"].squeeze().cpu().numpy().astype(np.uint8)
            # Keep counts, not maps: a large val split must not pile up in memory.
            self.results.append((image_counts(pred, gt), sample.get("task", "")))

    def compute_metrics(self, results: list) -> dict[str, float]:
        scorer = SplitScorer()
        for counts, task in results:
            scorer.add_counts(counts, task)
        summary = scorer.result()
        flat = {k: v for k, v in summary.items() if k != "tasks" and v is not None}
        for task, scores in summary.get("tasks", {}).items():
            if scores["artifact_IoU"] is not None:
                flat[f"artifact_IoU/{task}"] = scores["artifact_IoU"]
        return flat


@HOOKS.register_module()
class InitFromCheckpointHook(Hook):
    """Start training from a local checkpoint (ADE20K-pretrained, PAL4VST, or one of ours).

    Runs at `before_train`, after mmengine's own weight initialisation, and copies only weights whose
    names and shapes match, so a 150-class ADE20K classifier is skipped rather than breaking the load.
    """

    priority = "VERY_HIGH"

    def __init__(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        report = load_matching_weights(model, state_dict_of(read_checkpoint(self.checkpoint)))
        runner.logger.info(
            f"init from {self.checkpoint}: {len(report['loaded'])} tensors loaded, "
            f"{len(report['mismatched'])} skipped for shape, {len(report['missing'])} not in the checkpoint"
        )


@MODELS.register_module()
class ClassWeightedCELoss(torch.nn.Module):
    """Cross-entropy with per-class weights, averaged over non-ignored pixels by their weights.

    mmseg 1.2.2's CrossEntropyLoss with `class_weight` builds its normaliser with a Python loop over every
    pixel and crashes on ignored (255) pixels, i.e. on any padded crop; torch's weighted mean is the same
    quantity done right.
    """

    def __init__(self, class_weight: Sequence[float], loss_weight: float = 1.0, loss_name: str = "loss_ce"):
        super().__init__()
        self.register_buffer("class_weight", torch.tensor(list(class_weight), dtype=torch.float32))
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, cls_score, label, weight=None, ignore_index=IGNORE_INDEX, **kwargs):
        loss = torch.nn.functional.cross_entropy(
            cls_score, label.long(), weight=self.class_weight.to(cls_score.dtype), ignore_index=ignore_index,
        )
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class ArtifactDiceLoss(torch.nn.Module):
    """Soft Dice on the artifact class over the whole batch, ignoring 255 pixels.

    Cross-entropy alone is judged pixel by pixel, and with artifacts on ~6 % of pixels it settles for
    "clean everywhere" for a long time; Dice scores the overlap that IoU measures, so small runs learn to
    outline artifacts sooner. mmseg's DiceLoss drops ignored *classes*, not ignored pixels.
    """

    def __init__(self, loss_weight: float = 1.0, smooth: float = 1.0, loss_name: str = "loss_dice"):
        super().__init__()
        self.loss_weight = loss_weight
        self.smooth = smooth
        self._loss_name = loss_name

    def forward(self, cls_score, label, weight=None, ignore_index=IGNORE_INDEX, **kwargs):
        prob = cls_score.softmax(dim=1)[:, 1]
        valid = (label != ignore_index).to(prob.dtype)
        target = (label == 1).to(prob.dtype)
        inter = (prob * target * valid).sum()
        total = (prob * valid).sum() + (target * valid).sum()
        return self.loss_weight * (1 - (2 * inter + self.smooth) / (total + self.smooth))

    @property
    def loss_name(self) -> str:
        return self._loss_name


class ProgressHook(Hook):
    """Hands training progress to a plain callable (the backend's job context) every `interval` iterations."""

    def __init__(self, callback, interval: int = 5) -> None:
        self.callback = callback
        self.interval = interval

    def _scalars(self, runner) -> dict:
        scalars = {}
        for key, buffer in runner.message_hub.log_scalars.items():
            if key.startswith(("train/loss", "val/")):
                scalars[key] = float(buffer.current())
        return scalars

    def before_train(self, runner) -> None:
        # The network is built and on its device: a caller sees training start (and can cancel) before iteration 1.
        self.callback(runner.iter, runner.max_iters, {})

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        step = runner.iter + 1
        if step % self.interval == 0 or step == runner.max_iters:
            self.callback(step, runner.max_iters, self._scalars(runner))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.callback(runner.iter, runner.max_iters, {f"val/{k}": v for k, v in (metrics or {}).items()
                                                       if isinstance(v, (int, float))})


class WeightsOnlyCheckpointHook(Hook):
    """Keeps the checkpoints mmengine writes during training to weights and plain meta.

    mmengine adds its message hub (HistoryBuffer and numpy objects, pickled by reference) and optimizer state;
    the weights-only loader refuses those, and we never resume a run, so they go before the file is written and
    the best checkpoint loads like every other one (`checkpoint.read_checkpoint`, no full unpickling)."""

    priority = "VERY_LOW"  # last: strip whatever the other hooks added

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in [k for k in checkpoint if k not in ("state_dict", "meta")]:
            del checkpoint[key]
        checkpoint["meta"] = plain_meta(checkpoint.get("meta") or {})
