"""RetrainPolicy.scope: the scope of the models a campaign trains (onboarding: generator:<name>)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('learning', '0002_retrainpolicy'),
    ]

    operations = [
        migrations.AddField(
            model_name='retrainpolicy',
            name='scope',
            field=models.CharField(default='unified', max_length=200),
        ),
    ]
