"""The retraining policy lives in learning.RetrainPolicy now (learning 0002 copied it there)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0007_activelearninground_moves_to_learning"),
        ("learning", "0002_retrainpolicy"),
    ]

    operations = [
        migrations.RemoveField(model_name="campaign", name="training_dataset"),
        migrations.RemoveField(model_name="campaign", name="retrain_min_new_labels"),
        migrations.RemoveField(model_name="campaign", name="retrain_max_iters"),
        migrations.RemoveField(model_name="campaign", name="retrain_replay_images"),
    ]
