import os

# Same as the segmenter tests: the CLI tests load a real checkpoint on the CPU even where a GPU exists.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
