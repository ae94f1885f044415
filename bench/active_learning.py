"""Active-learning simulation and few-shot adaptation on the synthetic set (tiny config, CPU, fixed seeds).

    .venv/bin/python bench/active_learning.py [--n 240] [--start 16] [--k 24] [--rounds 4] [--iters 600]
                                              [--fine-tune-from start|previous] [--seeds 2]
                                              [--strategies random uncertainty diversity mix [par ...]]

Active learning: the ground-truth masks stand in for labellers. For each seed, every strategy starts from the
same random `--start` labelled images; each round fine-tunes the round-0 model for `--iters` on the labelled
images (the same training behind every point, so a curve follows the labels alone; `--fine-tune-from previous`
fine-tunes the round before's model instead, as the product's retraining does),
scores a fixed test set (`--test-n` images generated apart from the pool, the same for every strategy),
predicts the unlabelled pool and takes the next k by the strategy. It prints artifact IoU per round per
strategy (per seed and averaged over the seeds) and how many labels each strategy needed to reach random's
final IoU on the averaged curves (linear interpolation between rounds). Target: the best strategy needs
≤ 60 % of random's labels.

Few-shot: a base model trained on every artifact kind but `--new-kind` is scored on a "new generator" whose
images carry only that kind, before and after fine-tuning on 10 of its labelled images with the onboarding
schedule (`--few-shot-iters`, FLAWMAP_FEWSHOT_MAX_ITERS's default) and its rehearsal (`--replay` base training
images beside them, FLAWMAP_FEWSHOT_REPLAY_IMAGES's default); then, for comparison, without rehearsal.
Target: ≥ +10 IoU points.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

STRATEGIES = ("random", "uncertainty", "diversity", "mix")
FEW_SHOT_ITERS = 600  # backend/config/settings/ml.py FLAWMAP_FEWSHOT_MAX_ITERS default
FEW_SHOT_REPLAY = 90  # ... and FLAWMAP_FEWSHOT_REPLAY_IMAGES default


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def layout(root: Path, train: list[Path], val: list[Path], test: list[Path], labels_of) -> Path:
    """A PAL4VST folder of symlinks: the chosen train images plus the fixed val/test splits."""
    if root.exists():
        shutil.rmtree(root)
    for split, images in (("train", train), ("val", val), ("test", test)):
        for kind in ("images", "labels"):
            (root / kind / split).mkdir(parents=True)
        for image in images:
            (root / "images" / split / image.name).symlink_to(image)
            (root / "labels" / split / image.name).symlink_to(labels_of(image))
    return root


def split_images(data: Path, split: str) -> list[Path]:
    from ml.segmentation.evaluation import split_pairs

    return [image for image, _, _ in split_pairs(data, split)]


def labels_of(image: Path) -> Path:
    """The label beside an image of a PAL4VST folder: <root>/labels/<split>/<name>.png."""
    return image.parents[2] / "labels" / image.parent.name / image.with_suffix(".png").name


def run_round(work: Path, labelled: list[Path], val, test, *, iters: int, init: Path | None,
              seed: int) -> tuple[Path, float]:
    from ml.segmentation.config import TINY_CONFIG
    from ml.segmentation.evaluation import evaluate_split
    from ml.segmentation.predictor import Predictor
    from ml.segmentation.train import train

    data = layout(work / "data", labelled, val, test, labels_of)
    train(config=TINY_CONFIG, data=data, work_dir=work / "run", max_iters=iters, init=init, device="cpu", seed=seed,
          quiet=True)
    best = work / "best.pth"
    shutil.copy(work / "run" / "best.pth", best)
    iou = evaluate_split(Predictor(best, device="cpu"), data, "test")["artifact_IoU"] or 0.0
    return best, iou


def pick(strategy: str, checkpoint: Path, pool: list[Path], labelled: list[Path], k: int, seed: int) -> list[Path]:
    import numpy as np

    from ml.active_learning import select
    from ml.segmentation.predictor import Predictor
    from ml.segmentation.uncertainty import mean_entropy, mean_margin

    if strategy == "random":
        order = select("random", k=k, n=len(pool), seed=seed)
        return [pool[i] for i in order]
    predictor = Predictor(checkpoint, device="cpu")
    entropy, margin, par, features = [], [], [], []
    for _, prob, image_par, feat in predictor.iter_analyze(pool):
        entropy.append(mean_entropy(prob))
        margin.append(mean_margin(prob))
        par.append(image_par)
        features.append(feat)
    labelled_features = None
    if strategy == "diversity":
        labelled_features = np.array([f for *_, f in predictor.iter_analyze(labelled)])
    order = select(strategy, k=k, entropy=entropy, margin=margin, par=par, features=np.array(features),
                   labelled_features=labelled_features, seed=seed)
    return [pool[i] for i in order]


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    for (n0, v0), (n1, v1) in zip(curve, curve[1:]):
        if v0 >= target:
            return float(n0)
        if v1 >= target:
            return n0 + (target - v0) / (v1 - v0) * (n1 - n0)
    return float(curve[0][0]) if curve and curve[0][1] >= target else None


def ratios_to_random(curves: dict[str, list[tuple[int, float]]]) -> dict[str, float | None]:
    """Labels each strategy needs to reach random's final IoU, as a fraction of random's labels."""
    target, labels = curves["random"][-1][1], curves["random"][-1][0]
    needed = {s: labels_to_reach(c, target) for s, c in curves.items()}
    return {s: (round(n / labels, 3) if n is not None else None) for s, n in needed.items()}


def simulate(args, tmp: Path, seed: int) -> dict[str, list[tuple[int, float]]]:
    """One seed: the IoU-per-label-count curve of every strategy, all from the same start and test set."""
    import numpy as np

    from ml.synthetic import generate_dataset

    data, held_out = tmp / f"al-data-{seed}", tmp / f"al-test-{seed}"
    log(f"seed {seed}: generating a pool of {args.n} images and {args.test_n} test images ...")
    generate_dataset(data, n=args.n, size=256, seed=seed, clean_fraction=args.clean_fraction)
    # The test set is generated apart (its own seed) so it can be larger than a 10 % split of the pool; it is
    # drawn from the same distribution (the same share of artifact-free images).
    generate_dataset(held_out, n=args.test_n, size=256, seed=seed + 10_000, clean_fraction=args.clean_fraction)
    test = [p for split in ("train", "val", "test") for p in split_images(held_out, split)]
    pool0, val = split_images(data, "train"), split_images(data, "val")
    start = [pool0[i] for i in np.random.default_rng(seed).permutation(len(pool0))[: args.start]]
    curves: dict[str, list[tuple[int, float]]] = {}
    first = None  # round 0 (same start, same seed) is the same model for every strategy: trained once
    for strategy in args.strategies:
        labelled = list(start)
        checkpoint = None
        curve = []
        for r in range(args.rounds + 1):
            started = time.perf_counter()
            if r == 0 and first is not None:
                checkpoint, iou = first
            else:
                # "previous": the product's loop (fine-tune the model of the round before). "start": every round
                # fine-tunes the round-0 model, so every point of every curve had the same training.
                init = first[0] if first is not None and args.fine_tune_from == "start" else checkpoint
                checkpoint, iou = run_round(tmp / f"al-{strategy}-{seed}-{r}", labelled, val, test,
                                            iters=args.iters, init=init, seed=seed)
                first = first or (checkpoint, iou)
            curve.append((len(labelled), iou))
            log(f"seed {seed} {strategy:11s} round {r}: {len(labelled):3d} labels -> test artifact IoU {iou:.3f} "
                f"({time.perf_counter() - started:.0f} s)")
            if r == args.rounds:
                break
            taken = set(labelled)
            pool = [p for p in pool0 if p not in taken]
            labelled += pick(strategy, checkpoint, pool, labelled, args.k, seed=seed + r)
        curves[strategy] = curve
    return curves


# The settings a result records (JSON key: argument), and that --pool requires to agree across runs.
RUN_SETTINGS = {"iters_per_round": "iters", "fine_tune_from": "fine_tune_from", "test_images": "test_n",
                "clean_fraction": "clean_fraction"}


def active_learning(args, tmp: Path) -> dict:
    per_seed = {seed: simulate(args, tmp, seed) for seed in range(args.seed, args.seed + args.seeds)}
    return summarize(per_seed, args.strategies, {key: getattr(args, arg) for key, arg in RUN_SETTINGS.items()})


def summarize(per_seed: dict[int, dict[str, list[tuple[int, float]]]], strategies: list[str], settings: dict) -> dict:
    """Mean curves over the seeds, labels to reach random's final IoU on them, and the same seed by seed."""
    mean = {s: [(n, round(sum(per_seed[seed][s][r][1] for seed in per_seed) / len(per_seed), 4))
                for r, (n, _) in enumerate(next(iter(per_seed.values()))[s])] for s in strategies}
    target = mean["random"][-1][1]
    needed = {s: labels_to_reach(c, target) for s, c in mean.items()}
    ratios = ratios_to_random(mean)
    best = min((r for s, r in ratios.items() if s != "random" and r is not None), default=None)
    table = ["labels | " + " | ".join(strategies)]
    for r, (n, _) in enumerate(mean["random"]):
        table.append(f"{n:6d} | " + " | ".join(f"{mean[s][r][1]:.3f}" for s in strategies))
    log("mean test artifact IoU over seeds:\n  " + "\n  ".join(table))
    log("labels to reach random's final IoU: " + ", ".join(
        f"{s} {needed[s]:.1f} ({ratios[s]:.0%})" if needed[s] is not None else f"{s} not reached"
        for s in strategies) + f"; best ratio {best} (target <= 0.6)")
    # The same ratio seed by seed (each against its own random curve): how far one seed's answer can be trusted.
    per_seed_ratios = {str(seed): ratios_to_random(curves) for seed, curves in per_seed.items()}
    log("per seed: " + "; ".join(f"seed {seed} " + ", ".join(
        f"{s} {r:.0%}" if r is not None else f"{s} not reached" for s, r in ratios_.items() if s != "random")
        for seed, ratios_ in per_seed_ratios.items()))
    return {"seeds": list(per_seed), **settings,
            "curves_per_seed": {str(seed): c for seed, c in per_seed.items()}, "curves": mean,
            "random_final_IoU": target, "labels_to_reach_random_final": needed, "ratio_to_random": ratios,
            "ratio_to_random_per_seed": per_seed_ratios, "best_ratio": best, "target_ratio": 0.6,
            "pass": best is not None and best <= 0.6}


def pooled(paths: list[Path]) -> dict:
    """The summary over the seeds of several runs' JSON (a seed's curves repeat on the same machine and thread
    count, so runs of one seed at a time pool into the figure one run of all of them would print there). Raises
    ValueError naming the file when it is not this bench's output, repeats a seed, or was run with other
    settings or label counts."""
    per_seed: dict[int, dict[str, list[tuple[int, float]]]] = {}
    settings, strategies, where = None, None, {}
    for path in paths:
        try:
            part = json.loads(path.read_text())["active_learning"]
            runs = {int(seed): {s: [(int(n), float(v)) for n, v in c] for s, c in curves.items()}
                    for seed, curves in part["curves_per_seed"].items()}
            these = {key: part[key] for key in RUN_SETTINGS}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not an active-learning result of this bench ({exc!r})") from None
        if settings is not None and these != settings:
            raise ValueError(f"{path}: run with {these}, but {paths[0]} with {settings}")
        settings = these
        for seed, curves in runs.items():
            if seed in where:
                raise ValueError(f"{path}: seed {seed} is also in {where[seed]}")
            where[seed] = path
            strategies = set(curves) if strategies is None else strategies & set(curves)
        per_seed.update(runs)
    if not strategies or "random" not in strategies:
        raise ValueError("the files share no curves with random in them")
    names = ["random", *sorted(strategies - {"random"})]
    labels = {seed: [n for n, _ in per_seed[seed]["random"]] for seed in per_seed}
    first = next(iter(labels))
    for seed, counts in labels.items():
        if counts != labels[first]:
            raise ValueError(f"{where[seed]}: seed {seed} has labels {counts} per round, but seed {first} in "
                             f"{where[first]} has {labels[first]}")
    log(f"pooled seeds {sorted(per_seed)} from {len(paths)} file(s); strategies in all of them: {', '.join(names)}")
    return summarize({seed: {s: per_seed[seed][s] for s in names} for seed in sorted(per_seed)}, names, settings)


def few_shot(args, tmp: Path) -> dict:
    import numpy as np

    from ml.synthetic import ARTIFACT_KINDS, generate_dataset

    base_kinds = tuple(k for k in ARTIFACT_KINDS if k != args.new_kind)
    base, new = tmp / "fs-base", tmp / "fs-new"
    generate_dataset(base, n=args.n, size=256, seed=args.seed + 100, kinds=base_kinds)
    generate_dataset(new, n=args.new_n, size=256, seed=args.seed + 200, kinds=(args.new_kind,))
    # Scored on images of the new generator generated apart: its 10 % test split (20 images) swung by ±10
    # points between seeds and disagreed with the val split by as much.
    generate_dataset(tmp / "fs-new-test", n=args.new_test_n, size=256, seed=args.seed + 300, kinds=(args.new_kind,))
    log(f"few-shot: base model on {', '.join(base_kinds)} ({args.base_iters} iters) ...")
    base_train = split_images(base, "train")
    base_ckpt, base_iou = run_round(tmp / "fs-base-run", base_train, split_images(base, "val"),
                                    split_images(base, "test"), iters=args.base_iters, init=None, seed=args.seed)
    new_train, new_val = split_images(new, "train"), split_images(new, "val")
    new_test = [p for split in ("train", "val", "test") for p in split_images(tmp / "fs-new-test", split)]
    from ml.segmentation.evaluation import evaluate_split
    from ml.segmentation.predictor import Predictor

    before_data = layout(tmp / "fs-eval", new_train[:10], new_val, new_test, labels_of)
    before = evaluate_split(Predictor(base_ckpt, device="cpu"), before_data, "test")["artifact_IoU"] or 0.0
    # What onboarding does (backend/mlmodels/training.py): the 10 new labels plus a seeded sample of the base
    # model's own training images (rehearsal) in the train split; val and test stay the new generator's.
    rehearsal = [base_train[i] for i in np.random.default_rng(args.seed).permutation(len(base_train))[: args.replay]]
    _, after = run_round(tmp / "fs-tune", new_train[:10] + rehearsal, new_val, new_test,
                         iters=args.few_shot_iters, init=base_ckpt, seed=args.seed)
    figures = {"new_kind": args.new_kind, "base_test_IoU": base_iou, "test_images": len(new_test),
               "few_shot_iters": args.few_shot_iters, "replay_images": len(rehearsal), "before": before,
               "after": after, "gain_points": round((after - before) * 100, 1), "target_gain_points": 10,
               "pass": (after - before) * 100 >= 10}
    log(f"few-shot on '{args.new_kind}' ({len(new_test)} test images), 10 labels + {len(rehearsal)} rehearsal: "
        f"IoU {before:.3f} -> {after:.3f} ({figures['gain_points']:+.1f} points; target +10)")
    if rehearsal:  # the comparison: the 10 new labels alone
        _, alone = run_round(tmp / "fs-tune-alone", new_train[:10], new_val, new_test, iters=args.few_shot_iters,
                             init=base_ckpt, seed=args.seed)
        figures["after_without_replay"] = alone
        log(f"  without rehearsal: IoU {before:.3f} -> {alone:.3f} ({(alone - before) * 100:+.1f} points)")
    return figures


def main() -> int:
    from ml.synthetic.dataset import CLEAN_FRACTION

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=240, help="images generated per pool (80 %% form the pool)")
    parser.add_argument("--test-n", type=int, default=120, help="fixed test images, generated apart from the pool")
    parser.add_argument("--clean-fraction", type=float, default=CLEAN_FRACTION,
                        help=f"share of artifact-free images in the pool and test set (default {CLEAN_FRACTION}, "
                             "the synthetic set's)")
    parser.add_argument("--start", type=int, default=16)
    parser.add_argument("--k", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds of k labels after the start (default 4, up to 112 labels: at 2 rounds, 64 "
                             "labels, every curve was still in its steep part, where no choice of images saves much)")
    parser.add_argument("--iters", type=int, default=600,
                        help="fine-tuning iterations per round (default 600; at 150 every strategy's curve "
                             "followed the training iterations, not the labels)")
    parser.add_argument("--fine-tune-from", choices=["start", "previous"], default="start",
                        help="each round fine-tunes the round-0 model (default 'start': the same training behind "
                             "every point, so two points differ in their labels alone, and 'labels to reach random's "
                             "final IoU' does not also ask for random's extra rounds of training) or the previous "
                             "round's model ('previous': what the product's retraining does)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds to average the curves over (seed, seed+1, ...)")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES),
                        help=f"random first (the baseline); default {' '.join(STRATEGIES)}")
    parser.add_argument("--base-iters", type=int, default=900)
    parser.add_argument("--few-shot-iters", type=int, default=FEW_SHOT_ITERS,
                        help=f"fine-tuning iterations on the 10 new-generator images (default {FEW_SHOT_ITERS}, "
                             "the onboarding schedule)")
    parser.add_argument("--replay", type=int, default=FEW_SHOT_REPLAY,
                        help=f"base training images rehearsed beside the 10 new labels (default {FEW_SHOT_REPLAY}, "
                             "FLAWMAP_FEWSHOT_REPLAY_IMAGES's default; 0 = the new labels alone)")
    parser.add_argument("--new-kind", default="color_shift")
    parser.add_argument("--new-n", type=int, default=200,
                        help="new-generator images generated (10 of them labelled, its 10 %% val split validates)")
    parser.add_argument("--new-test-n", type=int, default=200,
                        help="new-generator images generated apart to score before and after (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=["al", "few-shot"], action="append", default=[])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--pool", nargs="+", type=Path, metavar="JSON",
                        help="run nothing: pool the seeds of earlier runs' JSON output (one seed per run, say) "
                             "and print their summary as one run of all those seeds would")
    args = parser.parse_args()
    if args.pool:
        try:
            figures = {"active_learning": pooled(args.pool)}
        except ValueError as exc:
            parser.error(f"--pool: {exc}")
        print(json.dumps(figures, indent=2))
        return 1 if args.strict and not figures["active_learning"]["pass"] else 0
    from ml.active_learning import STRATEGIES as KNOWN

    if "random" not in args.strategies or set(args.strategies) - set(KNOWN) or args.seeds < 1:
        parser.error(f"--strategies must include random and name only {', '.join(KNOWN)}; --seeds >= 1")
    args.strategies = ["random", *[s for s in args.strategies if s != "random"]]
    figures = {}
    # mmengine logs to stdout: keep stdout for the JSON figures alone.
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory(prefix="flawmap-bench-al-") as tmp:
        if "al" not in args.skip:
            figures["active_learning"] = active_learning(args, Path(tmp))
        if "few-shot" not in args.skip:
            figures["few_shot"] = few_shot(args, Path(tmp))
    print(json.dumps(figures, indent=2))
    return 1 if args.strict and not all(part["pass"] for part in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
