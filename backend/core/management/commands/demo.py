"""`make demo`: build a small demo set (real photos, synthetic artifacts, exact masks) and ingest it."""

import os
import secrets
import statistics
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db.models import Count
from rest_framework.authtoken.models import Token

from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.images.batch import images_ingest_batch
from backend.images.folder import folder_items, folder_plan
from backend.images.models import GeneratedImage, Generator
from backend.images.services import task_resolve
from annotator.models import Campaign, CampaignTask
from annotator.services.provision import campaign_create, campaign_provision
from annotator.services.push import campaign_push_images, unlabelled_image_ids
from ml.synthetic import generate_dataset

DEMO_GENERATOR = ("flawmap-demo-artifacts", "synthetic-v1")
# A "new generator" whose images arrive unlabelled: they go to a Label Studio campaign.
NEW_GENERATOR = ("flawmap-demo-newgen", "v0")
CAMPAIGN_NAME = "demo: label the new generator"
# The learning loop's new generator and its campaign.
LOOP_GENERATOR = ("flawmap-demo-loopgen", "v1")
LOOP_CAMPAIGN = "demo: active learning on a new generator"


class Command(BaseCommand):
    help = "Generate the demo set, ingest it with its masks, create a demo admin, print what is there."

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, default=160, help="Number of labelled demo images.")
        parser.add_argument("--size", type=int, default=256, help="Side of the square demo images.")
        parser.add_argument("--out", type=Path, default=Path(settings.BASE_DIR) / "var" / "demo" / "pal4vst")
        parser.add_argument("--base-iters", type=int, default=600,
                            help="Training iterations of the first unified model (CPU: ~0.3 s each).")
        parser.add_argument("--rounds", type=int, default=3, help="Active-learning rounds on the new generator.")
        parser.add_argument("--k", type=int, default=8, help="Images labelled per round.")
        parser.add_argument("--round-iters", type=int, default=150, help="Fine-tuning iterations per round.")
        parser.add_argument("--no-loop", action="store_true", help="Only ingest; skip training and the loop.")

    def handle(self, *args, n: int, size: int, out: Path, **options):
        self._ingest(n=n, size=size, out=out)
        if options["no_loop"]:
            return
        if not settings.LABEL_STUDIO_URL:
            self.stdout.write("Label Studio is not configured (`make labelstudio`): skipping the learning loop")
            return
        self._learning_loop(out.parent, size=size, **options)

    def _learning_loop(self, demo_dir: Path, *, size: int, base_iters: int, rounds: int, k: int, round_iters: int,
                       **_) -> None:
        from annotator.services.learning import UNIFIED_DATASET, campaign_training_dataset
        from backend.core.demo_loop import run_rounds, train_first_model
        from ml.synthetic import ARTIFACT_KINDS

        campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first()
        dataset = campaign_training_dataset(campaign)
        self.stdout.write(f"\n== learning loop ==\ntraining the first unified segmenter on dataset "
                          f"{UNIFIED_DATASET!r} ({base_iters} iterations on the CPU) ...")
        job = train_first_model(dataset=dataset, max_iters=base_iters)
        if job.status != "succeeded":
            self.stderr.write(f"training failed: {job.message}\n{job.traceback[-2000:]}")
            return
        self.stdout.write(f"job {job.pk}: {job.result['comparison']['reason']}")
        # The new generator makes fewer kinds of artifact than the base set, like a real new model would.
        folder = demo_dir / "loop-newgen"
        generate_dataset(folder, n=100, size=size, seed=11, overwrite=True, kinds=ARTIFACT_KINDS[:4])
        name, version = LOOP_GENERATOR
        generator, _ = Generator.objects.get_or_create(name=name, version=version,
                                                       defaults={"family": Generator.Family.DIFFUSION})
        rows = run_rounds(folder=folder, generator=generator, campaign_name=LOOP_CAMPAIGN, rounds=rounds, k=k,
                          round_iters=round_iters, log=self.stdout.write)
        self.stdout.write("\nround  labels  production model              promoted  held-out artifact IoU")
        for row in rows:
            self.stdout.write(f"{row.number:5d}  {row.labels:6d}  {row.model:28s}  {'yes' if row.promoted else 'no':8s}"
                              f"  {row.heldout_iou:.3f}   {row.note}")

    def _ingest(self, *, n: int, size: int, out: Path) -> None:
        records = generate_dataset(out, n=n, size=size, seed=0, overwrite=True)
        self.stdout.write(f"generated {len(records)} demo images with synthetic artifacts in {out}")

        name, version = DEMO_GENERATOR
        generator, _ = Generator.objects.get_or_create(
            name=name, version=version,
            defaults={"family": Generator.Family.OTHER,
                      "metadata": {"about": "scikit-image / scikit-learn sample photos with synthetic artifacts"}},
        )
        annotator = user_get_or_create_with_role(username="demo-import", role=Role.ANNOTATOR)
        plan = folder_plan(out, manifest=out / "manifest.jsonl")
        report = images_ingest_batch(items=folder_items(plan), generator=generator,
                                     task=task_resolve(slug="other"), annotator=annotator)
        username, password, token = self._demo_admin()
        campaign_line = self._label_studio_campaign(out.parent / "newgen", size)

        images = GeneratedImage.objects.filter(generator=generator)
        pars = list(images.exclude(par=None).values_list("par", flat=True))
        by_domain = dict(images.values_list("domain").annotate(n=Count("id")).order_by("domain"))
        self.stdout.write(self.style.SUCCESS(
            f"ingested {report.ingested}, duplicates {report.duplicates}, rejected {len(report.rejected)}"
        ))
        for rej in report.rejected:
            self.stderr.write(f"rejected {rej['path']}: {rej['error']}")
        self.stdout.write(
            f"database now holds {GeneratedImage.objects.count()} images "
            f"({images.filter(is_labelled=True).count()} of the demo set labelled with human masks); "
            f"by domain: {by_domain}\n"
            f"demo PAR: mean {statistics.fmean(pars) if pars else 0:.4f}, max {max(pars, default=0):.4f}; "
            f"artifact-free images: {sum(1 for p in pars if p == 0)}\n"
            f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; "
            f"blobs: {settings.STORAGES['blobs']['BACKEND'].rsplit('.', 1)[-1]}\n\n"
            f"Browse it: `make serve`, then open http://127.0.0.1:8000/api/docs/ "
            f"(log in at /api-auth/login/ as {username} / {password})\n"
            f"or: curl -H 'Authorization: Token {token}' 'http://127.0.0.1:8000/api/images/?ordering=-par'\n"
            f"{campaign_line}"
        )

    def _label_studio_campaign(self, folder: Path, size: int) -> str:
        """Ingest a few unlabelled images of a "new generator" and send them to Label Studio."""
        records = generate_dataset(folder, n=12, size=size, seed=1, overwrite=True)
        name, version = NEW_GENERATOR
        generator, _ = Generator.objects.get_or_create(name=name, version=version,
                                                       defaults={"family": Generator.Family.DIFFUSION})
        report = images_ingest_batch(items=folder_items(folder_plan(folder / "images")), generator=generator,
                                     task=task_resolve(slug="text_to_image"))
        if not settings.LABEL_STUDIO_URL:
            return (f"ingested {report.ingested} unlabelled images of {name}; Label Studio is not configured "
                    f"(run `make labelstudio`), so no campaign was created")
        campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first() or campaign_create(
            name=CAMPAIGN_NAME, generator=generator)
        campaign_provision(campaign=campaign)
        push = campaign_push_images(campaign=campaign, image_ids=unlabelled_image_ids(campaign=campaign, limit=len(records)))
        total = CampaignTask.objects.filter(campaign=campaign).count()
        return (
            f"Label Studio: campaign {campaign.name!r} = project {campaign.ls_project_id} with {total} tasks "
            f"({push.pushed} pushed now) at {settings.LABEL_STUDIO_URL}/projects/{campaign.ls_project_id}/data "
            f"(login in var/labelstudio/credentials.env). Annotations come back through the webhook while "
            f"`make serve` runs, or with `python manage.py labelstudio_reconcile`."
        )

    def _demo_admin(self) -> tuple[str, str, str]:
        username = "demo"
        password = os.environ.get("FLAWMAP_DEMO_PASSWORD") or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=Role.ADMIN.group_name))
        token, _ = Token.objects.get_or_create(user=user)
        return username, password, token.key
