"""VLM artifact classifier (SynArtifact style): template + parser, tiny offline model, LoRA training,
evaluation, prediction, reward. No Django here. Heavy modules (torch, transformers) are imported by the
modules that need them, so `ml.vlm.template` stays importable anywhere."""
