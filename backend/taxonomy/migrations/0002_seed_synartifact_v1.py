from django.db import migrations

from backend.taxonomy.seed import SYNARTIFACT_V1


def seed(apps, schema_editor):
    TaxonomyVersion = apps.get_model("taxonomy", "TaxonomyVersion")
    ArtifactClass = apps.get_model("taxonomy", "ArtifactClass")
    version, _ = TaxonomyVersion.objects.get_or_create(
        number=1, defaults={"name": "SynArtifact", "note": "The 13 SynArtifact classes."}
    )
    for order, (code, slug, name, group, definition) in enumerate(SYNARTIFACT_V1, start=1):
        ArtifactClass.objects.get_or_create(
            taxonomy=version, slug=slug,
            defaults={"code": code, "name": name, "group": group, "definition": definition, "order": order},
        )


def unseed(apps, schema_editor):
    apps.get_model("taxonomy", "ArtifactClass").objects.filter(taxonomy__number=1).delete()
    apps.get_model("taxonomy", "TaxonomyVersion").objects.filter(number=1).delete()


class Migration(migrations.Migration):
    dependencies = [("taxonomy", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
