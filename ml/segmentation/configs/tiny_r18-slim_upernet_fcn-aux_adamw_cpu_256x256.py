# The CPU config for tests, the demo and the learning loop: the same family as the paper model (UperNet decode
# head + FCN auxiliary head, 2 classes, AdamW + warm-up + poly) on a half-width ResNet-18 backbone with a
# 48-channel UperNet head, which learns far faster on 2 cores than a shrunken Swin. Images are 256x256 and so
# is inference; training samples 128x128 crops of them in batches of 16 (the same pixels per step as 4 full
# images, but more varied), and the 48-channel head costs a third of a 96-channel one. Artifacts cover ~6 % of
# pixels: class-weighted CE plus Dice on the artifact class keeps the model from settling on "clean everywhere".
_base_ = [
    '_base_/models/upernet_swin-t_fcn-aux.py',
    '_base_/datasets/pal4vst.py',
    '_base_/schedules/adamw_poly_20k.py',
    '_base_/default_runtime.py',
]
crop_size = (256, 256)
inference_size = 256
norm_cfg = dict(type='BN', requires_grad=True)
class_weight = [1.0, 4.0]
train_crop = (128, 128)
data_preprocessor = dict(size=train_crop)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=18,
        stem_channels=32,
        base_channels=32,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
    ),
    decode_head=dict(
        in_channels=[32, 64, 128, 256],
        channels=48,
        dropout_ratio=0.0,
        loss_decode=[
            dict(type='ClassWeightedCELoss', class_weight=class_weight, loss_weight=1.0),
            dict(type='ArtifactDiceLoss', loss_weight=1.0),
        ],
    ),
    auxiliary_head=dict(
        in_channels=128,
        channels=32,
        dropout_ratio=0.0,
        loss_decode=dict(_delete_=True, type='ClassWeightedCELoss', class_weight=class_weight, loss_weight=0.4),
    ),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # No rescaling: resampling blurs or sharpens the whole frame, and blur and grain are artifact cues here.
    dict(type='RandomCrop', crop_size=train_crop, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(inference_size, inference_size), keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs', meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                          'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label', 'task')),
]
# Two cores: loading 256-pixel PNGs in the main process costs less than a worker competing with torch's threads.
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
)
max_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=75),
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=75, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=250)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=250),
)
