# PAL4VST layout: <root>/images/{split}/**.{png,jpg} with <root>/labels/{split}/**.png holding 0 (clean),
# 1 (artifact), 255 (ignore). A sub-folder under images/{split}/ names the synthesis task (per-task IoU).
# No photometric distortion: colour and texture changes are themselves artifacts here.
dataset_type = 'PAL4VSTDataset'
data_root = 'data/pal4vst'
crop_size = (512, 512)
inference_size = 512  # images are resized to a square of this side for prediction, as PAL4VST's inference does
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.95),
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
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(
        img_path='images/train', seg_map_path='labels/train'), pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(
        img_path='images/val', seg_map_path='labels/val'), pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(
        img_path='images/test', seg_map_path='labels/test'), pipeline=test_pipeline),
)
val_evaluator = dict(type='ArtifactIoUMetric')
test_evaluator = val_evaluator
