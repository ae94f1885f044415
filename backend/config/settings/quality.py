"""Quality tools (backend/quality): how the fix job inpaints, the optional diffusers model it may use, and
when the generator leaderboard stops bootstrapping."""

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
# Generator leaderboard: a group (generator × task, or a generator over all tasks) of more PAR values than this
# gets the normal-approximation 95 % interval from SQL aggregates instead of a bootstrap (2000 resamples × n
# values), and its values are not read. Above a few thousand values the two agree (tests/backend/
# test_quality_leaderboard.py); below, the bootstrap copes better with PAR's skew (many zeros, a long tail).
FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N = env.int("FLAWMAP_LEADERBOARD_BOOTSTRAP_MAX_N", default=5000)
