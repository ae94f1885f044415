"""ModelVersion.config_trusted: an admin admitted a segmenter config that is not one shipped with Flawmap."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mlmodels", "0006_trained_on"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="config_trusted",
            field=models.BooleanField(default=False),
        ),
    ]
