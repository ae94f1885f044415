"""ModelVersion names the dataset version it was trained on by value (`trained_on`: dataset name, number, id)
instead of a foreign key into the datasets app, which sits above the model registry. Existing links are kept."""

from django.db import migrations, models


def link_to_reference(apps, schema_editor):
    ModelVersion = apps.get_model("mlmodels", "ModelVersion")
    for model in ModelVersion.objects.exclude(dataset_version=None).select_related("dataset_version__dataset"):
        version = model.dataset_version
        ModelVersion.objects.filter(pk=model.pk).update(
            trained_on={"dataset": version.dataset.name, "number": version.number, "id": version.pk})


def reference_to_link(apps, schema_editor):
    ModelVersion = apps.get_model("mlmodels", "ModelVersion")
    DatasetVersion = apps.get_model("datasets", "DatasetVersion")
    for model in ModelVersion.objects.exclude(trained_on={}):
        version_id = model.trained_on.get("id")
        if DatasetVersion.objects.filter(pk=version_id).exists():
            ModelVersion.objects.filter(pk=model.pk).update(dataset_version_id=version_id)


class Migration(migrations.Migration):

    dependencies = [
        ("mlmodels", "0005_modelpromotion"),
        ("datasets", "0002_export_job"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="trained_on",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(link_to_reference, reference_to_link),
        migrations.RemoveField(model_name="modelversion", name="dataset_version"),
    ]
