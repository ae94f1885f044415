"""The VLM artifact classifier (ml/vlm) and the reward service (POST /api/reward)."""

import json

from backend.config.settings.env import env

# Base vision-language model: a local folder or a model id already in the local Hugging Face cache. Nothing
# is downloaded (HF_HUB_OFFLINE). `python -m ml.vlm.tiny --out DIR` makes an offline test one.
VLM_BASE_MODEL = env.str("VLM_BASE_MODEL", default="")
# Retraining (train_vlm jobs): LoRA steps, batch size and learning rate per run.
VLM_TRAIN_MAX_STEPS = env.int("VLM_TRAIN_MAX_STEPS", default=300)
VLM_TRAIN_BATCH_SIZE = env.int("VLM_TRAIN_BATCH_SIZE", default=4)
VLM_TRAIN_LR = env.float("VLM_TRAIN_LR", default=2e-4)
# Inference: images per generate() call and the longest answer (tokens) a model may write.
VLM_PREDICT_BATCH_SIZE = env.int("VLM_PREDICT_BATCH_SIZE", default=8)
VLM_MAX_NEW_TOKENS = env.int("VLM_MAX_NEW_TOKENS", default=192)

# Reward service: at most this many images and bytes (all files together) per request, and pixels per image.
REWARD_MAX_IMAGES = env.int("REWARD_MAX_IMAGES", default=64)
REWARD_MAX_BYTES = env.int("REWARD_MAX_BYTES", default=64 * 1024 * 1024)
REWARD_MAX_PIXELS = env.int("REWARD_MAX_PIXELS", default=4096 * 4096)
# ...and pixels of all images of one request together, read from their headers before any is decoded (413):
# every image is held decoded (3 bytes a pixel) while the models run. Default: 64 one-megapixel images.
REWARD_MAX_TOTAL_PIXELS = env.int("REWARD_MAX_TOTAL_PIXELS", default=64 * 1024 * 1024)
# reward = clip(1 - PAR - REWARD_LAMBDA * sum of severity weights of the artifacts the VLM found, -1, 1)
REWARD_LAMBDA = env.float("REWARD_LAMBDA", default=0.1)
# Severity weight per class slug, JSON ({"awkward-facial-expression": 2.0}); classes not listed weigh 1.
REWARD_SEVERITY = json.loads(env.str("REWARD_SEVERITY", default="") or "{}")

# Inference service (backend/mlmodels/inference.py): the web app never runs a model; /api/reward sends its batch to
# this Celery queue, served by a threads-pool worker on the GPU host (`make inference-worker`), and answers 503 when
# no worker replies within the timeout. The worker joins requests arriving within the window into one model batch
# of at most FLAWMAP_INFERENCE_MAX_BATCH images.
FLAWMAP_INFERENCE_QUEUE = env.str("FLAWMAP_INFERENCE_QUEUE", default="") or "inference"
FLAWMAP_INFERENCE_TIMEOUT_SECONDS = env.float("FLAWMAP_INFERENCE_TIMEOUT_SECONDS", default=60.0)
FLAWMAP_INFERENCE_BATCH_WINDOW_MS = env.float("FLAWMAP_INFERENCE_BATCH_WINDOW_MS", default=5.0)
FLAWMAP_INFERENCE_MAX_BATCH = env.int("FLAWMAP_INFERENCE_MAX_BATCH", default=64)
