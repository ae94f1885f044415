"""ActiveLearningRound now belongs to the `learning` app: removed from this app's state only; the table and its
rows stay and learning.0001 takes them over (then renames the table)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0006_campaign_retrain_replay_images"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ActiveLearningRound")],
            database_operations=[],
        ),
    ]
