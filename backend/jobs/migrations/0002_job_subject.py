"""A job names what it works on through a generic subject (content type + id) instead of a foreign key to the
annotator's Campaign: the job engine sits below every app that queues jobs. Existing campaign links are kept."""

import django.db.models.deletion
from django.db import migrations, models


def campaign_to_subject(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    ContentType = apps.get_model("contenttypes", "ContentType")
    linked = Job.objects.exclude(campaign_id=None)
    if linked.exists():
        campaign_type, _ = ContentType.objects.get_or_create(app_label="annotator", model="campaign")
        for job in linked.only("pk", "campaign_id"):
            Job.objects.filter(pk=job.pk).update(subject_type=campaign_type, subject_id=job.campaign_id)


def subject_to_campaign(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    ContentType = apps.get_model("contenttypes", "ContentType")
    campaign_type = ContentType.objects.filter(app_label="annotator", model="campaign").first()
    if campaign_type is not None:
        for job in Job.objects.filter(subject_type=campaign_type).only("pk", "subject_id"):
            Job.objects.filter(pk=job.pk).update(campaign_id=job.subject_id)


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="subject_type",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="+", to="contenttypes.contenttype"),
        ),
        migrations.AddField(
            model_name="job",
            name="subject_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(campaign_to_subject, subject_to_campaign),
        migrations.RemoveField(model_name="job", name="campaign"),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(fields=["subject_type", "subject_id"], name="job_subject"),
        ),
    ]
