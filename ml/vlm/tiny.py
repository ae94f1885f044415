"""A tiny LLaVA-style vision-language model with random weights, built offline in a second.

For tests, the demo and the benchmark: the whole train → evaluate → predict → serve path runs on a CPU
without downloading anything. It is a real `LlavaForConditionalGeneration` (CLIP vision tower, projector,
Llama decoder) with a byte-level BPE tokenizer trained on the fly on the template's own vocabulary, saved
with `save_pretrained`, so `--base DIR` loads it exactly like a real model folder.

    python -m ml.vlm.tiny --out DIR [--classes classes.json] [--image-size 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.vlm.template import NONE, answer, question, with_image_size

IMAGE_TOKEN = "<image>"
HEAD_STD = 0.3
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", IMAGE_TOKEN]
# Plain-text chat template: the real instruct VLMs ship their own; this one only has to be unambiguous.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{{ '\\n' }}"
    "{% else %}ASSISTANT: {% for part in message['content'] %}{{ part['text'] }}{% endfor %}</s>{{ '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)
# Words captions are likely to use (synthetic demo captions, typical labeller phrasing).
CAPTION_WORDS = (
    "a the of in on at with and region area patch part object face hand finger fingers limb eye eyes text letters "
    "sign blurry blurred smeared swirled warped melted distorted deformed duplicated extra missing noisy noise "
    "texture colour color shift hue wrong unnatural bright dark glow light shadow edge top bottom left right "
    "centre center corner background foreground sky water tree building"
)


def _corpus(classes, extra: list[str]) -> list[str]:
    q = question(classes)
    lines = [q, with_image_size(q, width=512, height=512), NONE, CAPTION_WORDS, *extra]
    # Every class line with every digit, so boxes tokenise into known pieces.
    for code, slug, _name, _d in classes:
        lines.append(answer([{"bbox": [10, 23, 456, 789], "code": code, "class": slug, "caption": "x"}], classes))
    lines.append("0 1 2 3 4 5 6 7 8 9 [ ] , . | : ` USER: ASSISTANT:")
    return lines


def build_tokenizer(classes, *, extra_text: list[str] = (), vocab_size: int = 1200):
    """Byte-level BPE (decodes back to the exact text, so the parser sees what the model wrote), digits
    split one by one (any coordinate is a few known tokens), trained on the template's vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(classes, list(extra_text)), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", extra_special_tokens={"image_token": IMAGE_TOKEN})
    fast.padding_side = "left"  # decoder-only generation pads on the left
    return fast


def build_tiny_vlm(out: Path, classes, *, image_size: int = 64, seed: int = 0, extra_text: list[str] = ()) -> Path:
    """Write a tiny random-weight LLaVA (model + processor) to `out`; returns `out`."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from ml.vlm.model import quiet_transformers

    quiet_transformers()
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(classes, extra_text=extra_text)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    vision = CLIPVisionConfig(image_size=image_size, patch_size=16, hidden_size=48, intermediate_size=96,
                              num_hidden_layers=2, num_attention_heads=4, projection_dim=48)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=96, intermediate_size=192, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlavaForConditionalGeneration(config)
    # A pretrained head maps a unit-RMS hidden state to sharply peaked logits; a freshly initialised one
    # (std 0.02) caps the logit range near 2, so no LoRA on the layers below could ever make the answer
    # tokens likely. A wider head makes the random base behave like a real one under LoRA.
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, HEAD_STD)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        do_center_crop=False, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711])
    # do_center_crop off and shortest_edge = side: non-square images are squeezed, never cropped, so the
    # whole image (and every artifact in it) reaches the model.
    image_processor.size = {"height": image_size, "width": image_size}
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=16,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=CHAT_TEMPLATE)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "flawmap_tiny.json").write_text(json.dumps({"classes": [list(c) for c in classes], "seed": seed,
                                                       "image_size": image_size}, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    from ml.vlm.data import load_classes

    parser = argparse.ArgumentParser(prog="python -m ml.vlm.tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--classes", type=Path, default=None,
                        help="classes.json of an export, or an export folder (default: the SynArtifact 13)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build_tiny_vlm(args.out, load_classes(args.classes), image_size=args.image_size, seed=args.seed)
    print(f"tiny VLM written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
