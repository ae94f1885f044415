from django.db import migrations

from backend.images.seed import SYNTHESIS_TASKS


def seed(apps, schema_editor):
    SynthesisTask = apps.get_model("images", "SynthesisTask")
    for order, (slug, name, conditional, description) in enumerate(SYNTHESIS_TASKS, start=1):
        SynthesisTask.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "is_conditional": conditional, "description": description, "order": order},
        )


def unseed(apps, schema_editor):
    slugs = [row[0] for row in SYNTHESIS_TASKS]
    apps.get_model("images", "SynthesisTask").objects.filter(slug__in=slugs, images__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("images", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
