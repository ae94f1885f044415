# The paper recipe (GPU): Swin-T + UperNet + FCN aux, 512x512 crops, CE, AdamW 6e-5, poly with warm-up, 20k iters.
# PAL4VST trained with 8 GPUs x 2 images; `train` takes batch_size per iteration and splits it across its processes,
# so one GPU x 16 and 8 GPUs x 2 (torchrun) see the same images per iteration.
# Initialise from an ADE20K-pretrained checkpoint with `train --init CKPT` (nothing is downloaded).
_base_ = [
    '_base_/models/upernet_swin-t_fcn-aux.py',
    '_base_/datasets/pal4vst.py',
    '_base_/schedules/adamw_poly_20k.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=16, num_workers=8)
# Several GPUs (torchrun + `train --launcher pytorch`): every BatchNorm becomes SyncBN, so the heads' statistics
# cover the whole batch of an iteration, not one GPU's share of it. One process (and the CPU) keeps BatchNorm.
sync_bn = 'torch'
# Random weights are not the recipe: `train` refuses to start without --init unless told --from-scratch.
init_required = True
