"""Synthesis tasks seeded at migration time: PAL4VST's tasks plus real photos and other."""

SYNTHESIS_TASKS = [
    ("unconditional", "Unconditional generation", False, "Unconditional GANs (StyleGAN2 faces, humans, …)."),
    ("latent_diffusion", "Latent diffusion", False, "Latent diffusion models (LDM, e.g. LSUN)."),
    ("any_resolution", "Any-resolution generation", False, "Any-resolution GANs."),
    ("super_resolution", "Super-resolution", True, "Upscaling a low-resolution input (Real-ESRGAN)."),
    ("inpainting", "Inpainting", True, "Filling a masked hole in an image."),
    ("edge_to_image", "Edge-to-image", True, "Image from an edge map (PITI)."),
    ("mask_to_image", "Mask-to-image", True, "Image from a segmentation mask (PITI)."),
    ("text_to_image", "Text-to-image", True, "Image from a text prompt (Stable Diffusion, DALL-E 2)."),
    ("composition", "Latent image composition", True, "Compositing objects into a scene in latent space."),
    ("virtual_try_on", "Virtual try-on", True, "A person wearing a given garment, from a pose and a garment."),
    ("portrait_shadow_removal", "Portrait shadow removal", True, "Removing shadows from portraits."),
    ("real_photo", "Real photo", False, "A real photograph, for checking false positives."),
    ("other", "Other", False, "Anything else."),
]
