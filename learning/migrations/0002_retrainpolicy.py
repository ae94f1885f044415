"""A campaign's retraining policy moves from the annotator's Campaign to learning.RetrainPolicy (the learning
loop's side of a campaign). Every campaign that set any of it keeps its values; annotator 0008 then drops them."""

import django.db.models.deletion
from django.db import migrations, models

FIELDS = {"training_dataset_id": "training_dataset_id", "retrain_min_new_labels": "min_new_labels",
          "retrain_max_iters": "max_iters", "retrain_replay_images": "replay_images"}


def campaign_fields_to_policy(apps, schema_editor):
    Campaign = apps.get_model("annotator", "Campaign")
    RetrainPolicy = apps.get_model("learning", "RetrainPolicy")
    for campaign in Campaign.objects.all():
        values = {new: getattr(campaign, old) for old, new in FIELDS.items()}
        if any(v is not None for v in values.values()):
            RetrainPolicy.objects.create(campaign_id=campaign.pk, **values)


def policy_to_campaign_fields(apps, schema_editor):
    Campaign = apps.get_model("annotator", "Campaign")
    for policy in apps.get_model("learning", "RetrainPolicy").objects.all():
        Campaign.objects.filter(pk=policy.campaign_id).update(
            **{old: getattr(policy, new) for old, new in FIELDS.items()})


class Migration(migrations.Migration):

    dependencies = [
        ("learning", "0001_initial"),
        ("datasets", "0002_export_job"),
    ]

    operations = [
        migrations.CreateModel(
            name="RetrainPolicy",
            fields=[
                ("campaign", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                  related_name="retrain_policy", serialize=False,
                                                  to="annotator.campaign")),
                ("min_new_labels", models.PositiveIntegerField(blank=True, null=True)),
                ("max_iters", models.PositiveIntegerField(blank=True, null=True)),
                ("replay_images", models.PositiveIntegerField(blank=True, null=True)),
                ("training_dataset", models.ForeignKey(blank=True, null=True,
                                                       on_delete=django.db.models.deletion.SET_NULL,
                                                       related_name="retrain_policies", to="datasets.dataset")),
            ],
        ),
        migrations.RunPython(campaign_fields_to_policy, policy_to_campaign_fields),
    ]
