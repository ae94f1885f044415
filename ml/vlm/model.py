"""Loading a base VLM or a fine-tuned one, and turning (image, question[, answer]) into model batches.

Offline by construction: every load passes `local_files_only=True` and `HF_HUB_OFFLINE=1` is set before
transformers is imported, so a base that is not a local folder or already in the local cache fails with a
clear error instead of downloading. A fine-tuned model is a folder with the LoRA adapter (`adapter/`),
`classes.json` and `flawmap_vlm.json`, which names its base and that base's fingerprint (the sha256 of its
config.json), so an adapter is never silently applied to another base.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

META_FILE = "flawmap_vlm.json"
ADAPTER_DIR = "adapter"


class ModelLoadError(RuntimeError):
    """The base or fine-tuned model can't be loaded; the message says which and why."""


@dataclass
class LoadedVlm:
    model: object  # a transformers (or peft-wrapped) image-text-to-text model, in eval mode
    processor: object
    classes: list[tuple[str, str, str, str]]
    base: str
    name: str  # "base" or the fine-tuned folder's name
    device: str


def quiet_transformers() -> None:
    import warnings

    from transformers.utils import logging

    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")  # peft asks a deprecated name
    logging.set_verbosity_error()
    logging.disable_progress_bar()


def resolve_device(device: str = "auto") -> str:
    import torch

    if device in ("", "auto", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def base_fingerprint(base: str) -> str:
    """sha256 of the base's config.json (a local folder, or the local cache for a model id)."""
    path = Path(base)
    config = path / "config.json" if path.is_dir() else None
    if config is None:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(base, "config.json")
            config = Path(found) if isinstance(found, str) else None
        except Exception:  # no cache entry: fingerprint unknown, load will say more
            config = None
    return hashlib.sha256(config.read_bytes()).hexdigest() if config and config.is_file() else ""


def load_base(base: str, *, device: str = "auto"):
    """(model, processor) of a base VLM from a local folder or the local cache; nothing is downloaded."""
    quiet_transformers()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if not base:
        raise ModelLoadError("no base model given (set VLM_BASE_MODEL or pass --base)")
    try:
        processor = AutoProcessor.from_pretrained(base, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(base, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"can't load base VLM {base!r} offline (a local folder or a model id already in the "
                             f"local cache is needed; nothing is downloaded): {exc}") from exc
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is not None:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    return model.to(resolve_device(device)), processor


def load_tuned(model_dir: Path, *, base: str | None = None, device: str = "auto") -> LoadedVlm:
    """The base named in `model_dir/flawmap_vlm.json` (or `base`) with the LoRA adapter applied."""
    from peft import PeftModel

    from ml.vlm.data import load_classes

    model_dir = Path(model_dir)
    meta_path = model_dir / META_FILE
    if not meta_path.is_file():
        raise ModelLoadError(f"{model_dir} is not a fine-tuned VLM folder (no {META_FILE})")
    meta = json.loads(meta_path.read_text())
    base = base or meta["base"]
    want, got = meta.get("base_fingerprint", ""), base_fingerprint(base)
    if want and got and want != got:
        raise ModelLoadError(f"{model_dir} was trained on another base than {base!r} (config.json differs)")
    model, processor = load_base(base, device=device)
    model = PeftModel.from_pretrained(model, str(model_dir / ADAPTER_DIR), is_trainable=False)
    model.eval()
    return LoadedVlm(model=model, processor=processor, classes=load_classes(model_dir), base=base,
                     name=model_dir.name, device=resolve_device(device))


def load_untuned(base: str, classes, *, device: str = "auto") -> LoadedVlm:
    model, processor = load_base(base, device=device)
    model.eval()
    return LoadedVlm(model=model, processor=processor, classes=list(classes), base=base, name="base",
                     device=resolve_device(device))


# --------------------------------------------------------------------------- batches


def prompt_text(processor, question: str) -> str:
    """The chat-formatted user turn with one image, ending where the assistant's answer starts."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True)


def _encode_one(processor, image, question: str, answer: str | None):
    import torch

    enc = processor(images=[image], text=[prompt_text(processor, question)], return_tensors="pt")
    ids = enc.pop("input_ids")[0]
    enc.pop("attention_mask", None)
    labels = torch.full_like(ids, -100)
    if answer is not None:
        # The answer is tokenised on its own and appended, exactly what generation continues from.
        tok = processor.tokenizer
        tail = torch.tensor(tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
        ids, labels = torch.cat([ids, tail]), torch.cat([labels, tail])
    return ids, labels, dict(enc)


def make_batch(processor, images, questions, answers=None, *, device: str = "cpu") -> dict:
    """Left-padded batch; with answers, `labels` is -100 on the prompt and padding (loss on answers only)."""
    import torch

    answers = answers if answers is not None else [None] * len(images)
    rows = [_encode_one(processor, im, q, a) for im, q, a in zip(images, questions, answers)]
    width = max(len(ids) for ids, _, _ in rows)
    pad = processor.tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (ids, lab, _) in enumerate(rows):
        input_ids[i, width - len(ids):], labels[i, width - len(ids):] = ids, lab
        attention[i, width - len(ids):] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention}
    for key in rows[0][2]:  # pixel_values and whatever else the processor adds (grids, sizes)
        batch[key] = torch.cat([extra[key] for _, _, extra in rows], dim=0)
    if answers[0] is not None:
        batch["labels"] = labels
    return {k: v.to(device) for k, v in batch.items()}
