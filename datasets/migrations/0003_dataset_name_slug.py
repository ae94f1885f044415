import re

import django.core.validators
from django.db import migrations, models
from django.utils.text import slugify

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
MAX_LENGTH = 120


def slugify_names(apps, schema_editor):
    """Names that are not slugs yet become one ("My Set" -> "my-set"), with -2, -3... where two would clash."""
    Dataset = apps.get_model("datasets", "Dataset")
    taken = set(Dataset.objects.values_list("name", flat=True))
    for dataset in Dataset.objects.order_by("pk"):
        if SLUG.match(dataset.name):
            continue
        base = slugify(dataset.name)[:MAX_LENGTH] or "dataset"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base[:MAX_LENGTH - len(str(n)) - 1]}-{n}"
        taken.discard(dataset.name)
        taken.add(name)
        dataset.name = name
        dataset.save(update_fields=["name"])


class Migration(migrations.Migration):

    dependencies = [
        ("datasets", "0002_export_job"),
    ]

    operations = [
        migrations.RunPython(slugify_names, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="dataset",
            name="name",
            field=models.CharField(max_length=120, unique=True, validators=[django.core.validators.RegexValidator(
                "^[a-z0-9][a-z0-9_-]*\\Z",
                message="a dataset name is a slug: lowercase letters, digits, '-' and '_', starting with a letter "
                        "or digit")]),
        ),
    ]
