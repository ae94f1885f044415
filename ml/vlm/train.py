"""Fine-tune a VLM with LoRA on a `vlm-jsonl` export.

    python -m ml.vlm.train --data EXPORT_DIR --base MODEL --out DIR [--max-steps N] [--batch-size 4]
        [--lr 2e-4] [--lora-r 16] [--seed 0] [--device auto|cpu|cuda]

MODEL is a local folder or a model id already in the local cache (never downloaded); `python -m ml.vlm.tiny`
makes an offline test one. The loss is on the answer tokens only. LoRA goes on the language model's
attention and MLP projections; the small vision→text projector is trained in full (it is what maps a new
base's image features onto the answers). DIR gets `adapter/` (peft), `classes.json`, `flawmap_vlm.json`
(base, its fingerprint, training settings) and `metrics.json` (the loss per step).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Callable

from ml.vlm.data import load_classes, load_split, write_classes
from ml.vlm.model import ADAPTER_DIR, META_FILE, ModelLoadError, base_fingerprint, load_base, make_batch, resolve_device
from ml.vlm.template import with_image_size

# Decoder projections (Llama/Qwen/Mistral/Gemma names) inside the language model only: the vision tower
# stays frozen, as in SynArtifact's and LLaVA's fine-tuning.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
FULLY_TRAINED = ["multi_modal_projector"]


def _images(examples):
    from PIL import Image

    out = []
    for ex in examples:
        with Image.open(ex.image) as im:
            out.append(im.convert("RGB"))
    return out


def train(
    *, data: Path, base: str, out: Path, max_steps: int = 200, batch_size: int = 4, lr: float = 2e-4,
    lora_r: int = 16, seed: int = 0, device: str = "auto",
    on_progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Train and save; returns the metrics written to `out/metrics.json`."""
    import torch
    from peft import LoraConfig, get_peft_model

    examples = load_split(data, "train")
    if not examples:
        raise ValueError(f"{data}/train.jsonl has no examples")
    classes = load_classes(data)
    device = resolve_device(device)
    random.seed(seed)
    torch.manual_seed(seed)
    model, processor = load_base(base, device=device)
    targets = [n for n, _ in model.named_modules() if n.endswith(tuple(FULLY_TRAINED))]
    model = get_peft_model(model, LoraConfig(
        r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0, target_modules=LORA_TARGETS,
        modules_to_save=FULLY_TRAINED if targets else None, task_type="CAUSAL_LM"))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    # Linear warm-up over the first tenth, then constant: short runs still move.
    warmup = max(1, max_steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
    images = _images(examples)
    order: list[int] = []
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, max_steps + 1):
        if len(order) < batch_size:
            order += random.sample(range(len(examples)), len(examples))
        picks, order = order[:batch_size], order[batch_size:]
        batch = make_batch(
            processor, [images[i] for i in picks],
            [with_image_size(examples[i].question, width=examples[i].width, height=examples[i].height) for i in picks],
            [examples[i].answer for i in picks], device=device)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(float(loss.detach()), 5))
        if on_progress:
            on_progress(step, max_steps, losses[-1])
    seconds = time.perf_counter() - started
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out / ADAPTER_DIR))
    write_classes(out / "classes.json", classes)
    meta = {"base": str(base), "base_fingerprint": base_fingerprint(str(base)), "steps": max_steps,
            "batch_size": batch_size, "lr": lr, "lora_r": lora_r, "seed": seed, "train_examples": len(examples),
            "lora_targets": LORA_TARGETS, "fully_trained": FULLY_TRAINED if targets else []}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    n = max(1, len(losses) // 10)
    metrics = {"steps": max_steps, "seconds": round(seconds, 3), "steps_per_second": round(max_steps / seconds, 3),
               "first_loss": sum(losses[:n]) / n, "last_loss": sum(losses[-n:]) / n, "losses": losses,
               "train_examples": len(examples), "device": device,
               "trainable_parameters": sum(p.numel() for p in trainable)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.vlm.train",
                                     description="LoRA fine-tuning on a vlm-jsonl export.")
    parser.add_argument("--data", type=Path, required=True, help="a vlm-jsonl export folder")
    parser.add_argument("--base", required=True, help="base VLM: a local folder or a model id in the local cache")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.max_steps < 1 or args.batch_size < 1:
        parser.error("--max-steps and --batch-size must be at least 1")

    def progress(step, total, loss):
        if step == 1 or step == total or step % max(1, total // 20) == 0:
            print(f"step {step}/{total} loss {loss:.4f}", flush=True)

    try:
        m = train(data=args.data, base=args.base, out=args.out, max_steps=args.max_steps, batch_size=args.batch_size,
                  lr=args.lr, lora_r=args.lora_r, seed=args.seed, device=args.device, on_progress=progress)
    except (ModelLoadError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"loss {m['first_loss']:.4f} -> {m['last_loss']:.4f} in {m['steps']} steps "
          f"({m['steps_per_second']:.2f} steps/s on {m['device']}); model in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
