"""Imported TorchScript segmenters (PAL4VST's `end2end.pt`, or any scripted model): what their output means, and
the probabilities and features active learning needs from them.

An imported model is a black box that maps a normalised Nx3xSxS batch to *something*; its first output is read as

- `logits`: a float N x C x H x W tensor with C >= 2 → softmax; p(artifact) = 1 - p(class 0, clean);
- `labels`: an integer (or 0/1-valued) N x H x W or N x 1 x H x W map, the argmax only (PAL4VST's export). There
  is no confidence to read, so uncertainty comes from test-time augmentation: the model also sees the image
  flipped horizontally, vertically and both, each answer is flipped back, and p(artifact) is the share of the 4
  views that mark the pixel (0, .25, .5, .75, 1). Where the views disagree the model is unsure; entropy and
  margin follow from p as for any model. The mask stays the model's own (unflipped) answer;
- `probabilities` / `logit`: a float single-channel map, in [0, 1] (used as is) or not (a logit: sigmoid).

The kind is decided on the model's first batch and kept, so one model is never read two ways.

Features for diversity sampling: the second output when the model returns (segmentation, features) with features
N x D (or N x D x h x w, average-pooled). Without one, a fixed proxy descriptor: p(artifact) average-pooled to an
8x8 grid (64 values: where the model sees artifacts) followed by the input's per-channel colour mean and standard
deviation (6 values). It is a proxy, not learned features: diversity and mix then cluster images by where the
model marks artifacts and by their colours.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .checkpoint import CheckpointError

# Flips as the dims of an N x C x H x W batch to reverse: identity, horizontal, vertical, both. Each is its own
# inverse, so the same dims flip an answer back onto the original image.
TTA_VIEWS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))
PROXY_GRID = 8
KINDS = ("logits", "labels", "probabilities", "logit")


class Output(NamedTuple):
    probability: torch.Tensor  # N x S x S p(artifact)
    labels: torch.Tensor | None  # N x S x S 0/1: the model's own answer (label models), else None
    features: torch.Tensor | None  # N x D, or None when the model gives none


def _split(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(segmentation output, features or None) of what the module returned."""
    features = None
    if isinstance(out, (tuple, list)):
        if not out:
            raise CheckpointError("TorchScript model returned an empty tuple")
        if len(out) > 1 and isinstance(out[1], torch.Tensor) and out[1].is_floating_point() and out[1].dim() in (2, 4):
            features = out[1] if out[1].dim() == 2 else out[1].mean(dim=(2, 3))
        out = out[0]
    if isinstance(out, dict):  # some exports name their outputs
        out = out.get("out", next(iter(out.values()), None))
    if not isinstance(out, torch.Tensor):
        raise CheckpointError(f"TorchScript model returned {type(out).__name__}, not a tensor")
    return out, features


def output_kind(seg: torch.Tensor) -> str:
    """Which of KINDS a first output is; CheckpointError naming its shape when it is none."""
    if seg.dim() == 4 and seg.shape[1] >= 2:
        if not seg.is_floating_point():
            raise CheckpointError(f"TorchScript model output {tuple(seg.shape)} has {seg.shape[1]} integer channels;"
                                  " expected N x C x H x W float scores or an N x H x W label map")
        return "logits"
    if seg.dim() not in (3, 4):
        raise CheckpointError(f"TorchScript model output of shape {tuple(seg.shape)} is not a segmentation; "
                              "expected N x C x H x W scores or an N x H x W label map")
    if not seg.is_floating_point():
        return "labels"
    if bool(((seg == 0) | (seg == 1)).all()):
        return "labels"
    return "probabilities" if bool(((seg >= 0) & (seg <= 1)).all()) else "logit"


def _to_size(x: torch.Tensor, size: int, *, nearest: bool) -> torch.Tensor:
    """N x H x W float → N x size x size (a model may answer at a lower resolution than it was given)."""
    if x.shape[-2:] == (size, size):
        return x
    mode = dict(mode="nearest") if nearest else dict(mode="bilinear", align_corners=False)
    return F.interpolate(x[:, None], size=(size, size), **mode)[:, 0]


def _probability(seg: torch.Tensor, kind: str, size: int) -> torch.Tensor:
    """N x size x size p(artifact) (for `labels`: the 0/1 answer) from a first output of this kind."""
    n = seg.shape[0]
    if kind == "logits":
        return _to_size(1.0 - seg.float().softmax(dim=1)[:, 0], size, nearest=False)
    flat = seg.reshape(n, *seg.shape[-2:])
    if kind == "labels":
        marked = (flat != 0) if not flat.is_floating_point() else (flat >= 0.5)
        return _to_size(marked.float(), size, nearest=True)
    if kind == "logit":
        return _to_size(flat.float().sigmoid(), size, nearest=False)
    return _to_size(flat.float().clamp(0, 1), size, nearest=False)


def run(module: torch.nn.Module, batch: torch.Tensor, kind: str | None) -> tuple[Output, str]:
    """The model's output on a normalised N x 3 x S x S batch, and its kind (detected when `kind` is None)."""
    n, size = batch.shape[0], batch.shape[-1]
    seg, features = _split(module(batch))
    if seg.shape[0] != n:
        raise CheckpointError(f"TorchScript model answered {seg.shape[0]} images for a batch of {n}")
    kind = kind or output_kind(seg)
    if kind not in KINDS:
        raise ValueError(f"unknown TorchScript output kind {kind!r}")
    prob = _probability(seg, kind, size)
    if kind != "labels":
        return Output(prob, None, features), kind
    votes = [prob]
    for dims in TTA_VIEWS[1:]:
        flipped, _ = _split(module(batch.flip(dims)))
        votes.append(_probability(flipped, kind, size).flip([d - 1 for d in dims]))  # N x S x S: one dim less
    return Output(torch.stack(votes).mean(dim=0), prob, features), kind


def proxy_features(probability: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """N x 70 stand-in features: p(artifact) pooled to 8x8, then the RGB mean and standard deviation of the
    N x 3 x S x S images in [0, 1]."""
    grid = F.adaptive_avg_pool2d(probability[:, None].float(), PROXY_GRID).flatten(1)
    colour = torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)
    return torch.cat([grid, colour.to(grid.dtype)], dim=1)
