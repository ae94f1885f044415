"""Each claim of a job gets an attempt token (only its holder publishes results); the reaper notes when it
sent a queued job's message again."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0002_job_subject'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='attempt_token',
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='job',
            name='requeued_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
