from django.db import migrations

# Between annotator and admin: labels, and may also mark passes reviewed (backend.core.roles.Role.REVIEWER).
ROLE_GROUPS = ["reviewer"]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0002_roles")]
    operations = [migrations.RunPython(create_groups, drop_groups)]
