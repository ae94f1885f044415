"""Model serving and training: where checkpoints are cached locally, which device runs them."""

from backend.config.settings.env import VAR_DIR, env

# Registered checkpoints are fetched from blob storage into this folder once per machine.
FLAWMAP_MODEL_CACHE_DIR = env.str("FLAWMAP_MODEL_CACHE_DIR", default="") or str(VAR_DIR / "model-cache")
# auto: the GPU when there is one, else the CPU.
FLAWMAP_ML_DEVICE = env.str("FLAWMAP_ML_DEVICE", default="auto")
FLAWMAP_PREDICT_BATCH_SIZE = env.int("FLAWMAP_PREDICT_BATCH_SIZE", default=8)
# What retraining runs: the config (a name in ml/segmentation/configs or a path) and its iteration budget.
# "auto": the paper config on a worker with a CUDA device, the tiny CPU one elsewhere, decided on the training
# worker (learning/segmenter_config.py; the web process never imports torch); fine-tuning keeps the model's own.
FLAWMAP_SEGMENTER_CONFIG = env.str("FLAWMAP_SEGMENTER_CONFIG", default="auto")
FLAWMAP_SEGMENTER_MAX_ITERS = env.int("FLAWMAP_SEGMENTER_MAX_ITERS", default=300)
# Processes per training (one per GPU on the worker): 1 trains in the worker's process; N > 1 starts torchrun
# (mmengine's distributed runner, DDP + SyncBN), the config's batch split across them.
FLAWMAP_TRAIN_NPROC = env.int("FLAWMAP_TRAIN_NPROC", default=1)
# Scratch space for exports and training runs (removed after each run); empty = the system temp dir.
FLAWMAP_TRAIN_WORK_DIR = env.str("FLAWMAP_TRAIN_WORK_DIR", default="") or None
# Retrain a campaign's model once this many new human labels arrived since its last training.
RETRAIN_MIN_NEW_LABELS = env.int("RETRAIN_MIN_NEW_LABELS", default=20)
# Onboarding a new generator: fine-tune the unified model on its first labels with this short schedule
# (PAL4VST fine-tuned on 10 images for ≤ 2000 GPU iterations; this is the CPU-sized equivalent for the tiny
# config, chosen in docs/experiments/few-shot.md).
FLAWMAP_FEWSHOT_MAX_ITERS = env.int("FLAWMAP_FEWSHOT_MAX_ITERS", default=600)
# ... and with this many of the unified model's own training images beside them (rehearsal; 0 = none).
FLAWMAP_FEWSHOT_REPLAY_IMAGES = env.int("FLAWMAP_FEWSHOT_REPLAY_IMAGES", default=90)
# Promotion gate (ml/promotion.py): a candidate may lower any other benchmark it is scored on by at most this many
# IoU points (1.0 = 0.01 in IoU units; macro-F1 points for the VLM) ...
FLAWMAP_PROMOTION_MAX_REGRESSION = env.float("FLAWMAP_PROMOTION_MAX_REGRESSION", default=1.0)
# ... and a benchmark with fewer images than this cannot decide: the candidate stays a candidate.
FLAWMAP_BENCHMARK_MIN_IMAGES = env.int("FLAWMAP_BENCHMARK_MIN_IMAGES", default=30)
