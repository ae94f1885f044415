"""Model scopes (unified, generator:<name>, task:<slug>): one production model per kind and scope; the promotion
gate's verdicts (PromotionDecision) and the evidence behind each promotion. Existing versions become unified."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_reviewer_role'),
        ('mlmodels', '0007_modelversion_config_trusted'),
    ]

    operations = [
        migrations.CreateModel(
            name='PromotionDecision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('segmenter', 'Artifact segmenter'), ('vlm', 'VLM artifact classifier')], max_length=20)),
                ('scope', models.CharField(default='unified', max_length=200)),
                ('outcome', models.CharField(choices=[('promoted', 'Promoted'), ('refused', 'Refused'), ('undecided', 'Too little evidence')], max_length=20)),
                ('reason', models.TextField()),
                ('evidence', models.JSONField(blank=True, default=dict)),
                ('decided_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['-decided_at', '-id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='modelversion',
            name='modelversion_one_production_per_kind',
        ),
        migrations.AddField(
            model_name='modelpromotion',
            name='evidence',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='modelpromotion',
            name='scope',
            field=models.CharField(default='unified', max_length=200),
        ),
        migrations.AddField(
            model_name='modelversion',
            name='scope',
            field=models.CharField(default='unified', max_length=200),
        ),
        migrations.AddConstraint(
            model_name='modelversion',
            constraint=models.UniqueConstraint(condition=models.Q(('status', 'production')), fields=('kind', 'scope'), name='modelversion_one_production_per_kind_scope'),
        ),
        migrations.AddField(
            model_name='promotiondecision',
            name='candidate',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='promotion_decisions', to='mlmodels.modelversion'),
        ),
        migrations.AddField(
            model_name='promotiondecision',
            name='incumbent',
            field=models.ForeignKey(blank=True, help_text="The production model that served the scope's images then, if any.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='mlmodels.modelversion'),
        ),
    ]
