"""Quality tools (backend/quality): how the fix job inpaints, and the optional diffusers model it may use."""

from backend.config.settings.env import env

# opencv-telea (default, embedded), opencv-ns, or diffusers-sd (needs FLAWMAP_DIFFUSERS_INPAINT_MODEL).
FLAWMAP_FIX_BACKEND = env.str("FLAWMAP_FIX_BACKEND", default="opencv-telea")
# Pixels the predicted mask is grown by before inpainting (context margin and feathered seam).
FLAWMAP_FIX_DILATE = env.int("FLAWMAP_FIX_DILATE", default=8)
# Side of the square the inpainter works at (each zoom-in crop is resized to it).
FLAWMAP_FIX_WORKING_SIZE = env.int("FLAWMAP_FIX_WORKING_SIZE", default=512)
# Local folder of a diffusers Stable Diffusion inpainting model; empty = the diffusers-sd backend is off.
# Nothing is ever downloaded, and the diffusers package is not in requirements.txt: install it yourself.
FLAWMAP_DIFFUSERS_INPAINT_MODEL = env.str("FLAWMAP_DIFFUSERS_INPAINT_MODEL", default="")
