"""ActiveLearningRound, moved from the annotator app with its rows: the state takes over the existing table
(annotator_activelearninground), then 0002 renames it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("annotator", "0007_activelearninground_moves_to_learning"),
        ("mlmodels", "0005_modelpromotion"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ActiveLearningRound",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("number", models.PositiveIntegerField()),
                        ("strategy", models.CharField(max_length=30)),
                        ("k", models.PositiveIntegerField(help_text="Images asked for.")),
                        ("candidates", models.PositiveIntegerField(
                            help_text="Unlabelled images the strategy chose from.")),
                        ("picked", models.PositiveIntegerField()),
                        ("pushed", models.PositiveIntegerField(
                            help_text="Picked images that became new Label Studio tasks.")),
                        ("model_metrics", models.JSONField(
                            blank=True, default=dict, help_text="The picking model's test metrics when the round ran.")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("campaign", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                       related_name="learning_rounds", to="annotator.campaign")),
                        ("model_version", models.ForeignKey(blank=True, null=True,
                                                            on_delete=django.db.models.deletion.SET_NULL,
                                                            related_name="learning_rounds",
                                                            to="mlmodels.modelversion")),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "db_table": "annotator_activelearninground",
                        "constraints": [models.UniqueConstraint(fields=("campaign", "number"),
                                                                name="learninground_unique_number")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="activelearninground", table=None),
    ]
