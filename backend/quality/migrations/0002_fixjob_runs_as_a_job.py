"""A fix runs as a `fix_image` Job: its status, finish time, heartbeat and retries are the Job's.

Each existing fix gets a finished Job that says what became of it; a fix still pending or running when this
runs was queued through the old task, which no longer exists, so it is recorded as failed (request it again).
"""

import django.db.models.deletion
from django.db import migrations, models

_JOB_STATUS = {"done": "succeeded", "failed": "failed"}


def fixes_to_jobs(apps, schema_editor):
    FixJob = apps.get_model("quality", "FixJob")
    Job = apps.get_model("jobs", "Job")
    for fix in FixJob.objects.all().iterator():
        status = _JOB_STATUS.get(fix.status, "failed")
        message = "" if fix.status in _JOB_STATUS else "interrupted by the upgrade to jobs: request the fix again"
        fix.job = Job.objects.create(
            kind="fix_image", queue="gpu", status=status, params={"fix_job_id": fix.pk, "image_id": fix.image_id},
            progress=1.0 if status == "succeeded" else 0.0, message=message, created_by_id=fix.requested_by_id,
            finished_at=fix.finished_at or fix.created_at,
        )
        fix.save(update_fields=["job"])
    if schema_editor.connection.vendor == "postgresql":
        # Check the new foreign keys now: PostgreSQL refuses the ALTER TABLEs below while deferred checks of
        # rows written in this transaction are pending.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0001_initial"),
        ("quality", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="fixjob",
            name="job",
            field=models.OneToOneField(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="fix",
                                       to="jobs.job"),
        ),
        migrations.RunPython(fixes_to_jobs, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="fixjob",
            name="job",
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="fix", to="jobs.job"),
        ),
        migrations.RemoveField(model_name="fixjob", name="status"),
        migrations.RemoveField(model_name="fixjob", name="finished_at"),
    ]
