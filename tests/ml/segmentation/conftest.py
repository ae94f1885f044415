import os

# Shared fixtures `synthetic_root` and `trained` live in tests/conftest.py (the backend tests use them too).
# The segmenter tests run on the CPU even where a GPU exists; mmengine would pick it otherwise.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

