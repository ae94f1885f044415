from tests.vlm_support import constant_export, tiny_vlm_base, tiny_vlm_tuned, vlm_demo_export  # noqa: F401
