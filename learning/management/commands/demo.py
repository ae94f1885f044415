"""`make demo`: build a small demo set (real photos, synthetic artifacts, exact masks), ingest it, run the
learning loop against Label Studio, and print what to open next. Safe to run again: what an earlier run
stored is reused and said so."""

import os
import secrets
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from rest_framework.authtoken.models import Token

from annotator.models import Campaign, CampaignTask
from annotator.services.provision import campaign_create, campaign_prelabel_holdout_set, campaign_provision
from annotator.services.push import campaign_push_images, unlabelled_image_ids
from backend.core.cli import add_quiet_argument, progress_bar, progress_callback
from backend.core.exceptions import ApplicationError
from backend.core.roles import Role
from backend.core.users import user_get_or_create_with_role
from backend.images.batch import images_ingest_batch
from backend.images.folder import folder_items, folder_plan
from backend.images.models import GeneratedImage
from backend.images.services import generator_get_or_create, task_resolve
from backend.jobs.context import job_progress_listener
from backend.mlmodels.selectors import routing_table
from datasets.benchmarks import benchmark_create
from datasets.selectors import benchmark_get
from learning.demo_loop import DEMO_PRELABEL_HOLDOUT, run_rounds, train_first_model
from learning.services.retrain import UNIFIED_DATASET, campaign_training_dataset
from ml.synthetic import ARTIFACT_KINDS, generate_dataset

DEMO_GENERATOR = ("flawmap-demo-artifacts", "synthetic-v1")
# A "new generator" whose images arrive unlabelled: they go to a Label Studio campaign.
NEW_GENERATOR = ("flawmap-demo-newgen", "v0")
CAMPAIGN_NAME = "demo: label the new generator"
# The learning loop's new generator and its campaign.
LOOP_GENERATOR = ("flawmap-demo-loopgen", "v1")
LOOP_CAMPAIGN = "demo: active learning on a new generator"

# The demo set is small (17 of the full demo's 160 images are in the global test split, 1 of --quick's 40): its
# benchmarks take what there is instead of FLAWMAP_BENCHMARK_MIN_IMAGES (their n_images and intervals say how little).
DEMO_BENCHMARK_MIN_IMAGES = 1

# Sizes of the full demo and of `--quick` (the same code path, small enough for CI); flags override either.
SIZES = {
    "full": {"n": 160, "size": 256, "base_iters": 600, "rounds": 3, "k": 8, "round_iters": 150,
             "loop_images": 100, "campaign_images": 12},
    "quick": {"n": 40, "size": 128, "base_iters": 40, "rounds": 2, "k": 8, "round_iters": 20,
              "loop_images": 50, "campaign_images": 6},
}


class Command(BaseCommand):
    help = ("Generate the demo set, ingest it with its masks, create a demo admin, run the learning loop "
            "(needs Label Studio: `make labelstudio`), print what is there and what to open next.")

    def add_arguments(self, parser):
        parser.add_argument("--quick", action="store_true",
                            help="A small demo in a few minutes (what CI runs): " + _describe(SIZES["quick"]))
        parser.add_argument("--n", type=int, help="Number of labelled demo images.")
        parser.add_argument("--size", type=int, help="Side of the square demo images.")
        parser.add_argument("--out", type=Path, default=None,
                            help="Where the demo images go (default: demo/pal4vst in FLAWMAP_VAR_DIR).")
        parser.add_argument("--base-iters", type=int, help="Training iterations of the first unified model.")
        parser.add_argument("--rounds", type=int, help="Active-learning rounds on the new generator.")
        parser.add_argument("--k", type=int, help="Images labelled per round.")
        parser.add_argument("--round-iters", type=int, help="Fine-tuning iterations per round.")
        parser.add_argument("--loop-images", type=int, help="Images of the learning loop's new generator.")
        parser.add_argument("--no-loop", action="store_true", help="Only ingest; skip training and the loop.")
        add_quiet_argument(parser)

    def handle(self, *args, **options):
        sizes = {key: options[key] if options.get(key) is not None else default
                 for key, default in SIZES["quick" if options["quick"] else "full"].items()}
        for key, value in sizes.items():
            if value < 1:
                raise CommandError(f"--{key.replace('_', '-')} must be at least 1, not {value}")
        self.quiet = options["quiet"]
        self.reused: list[str] = []
        out = options["out"] or Path(settings.FLAWMAP_VAR_DIR) / "demo" / "pal4vst"
        self._ingest(n=sizes["n"], size=sizes["size"], out=out)
        self._benchmarks()
        campaign_line = self._label_studio_campaign(out.parent / "newgen", sizes["size"], sizes["campaign_images"])
        login = self._demo_admin()
        if options["no_loop"]:
            pass
        elif not settings.LABEL_STUDIO_URL:
            self.stdout.write("Label Studio is not configured (`make labelstudio`): skipping the learning loop")
        else:
            self._learning_loop(out.parent, **sizes)
        if self.reused:
            self.stdout.write("\nreused from an earlier run:\n" + "\n".join(f"  - {line}" for line in self.reused))
        self._next_steps(*login, campaign_line)

    def _learning_loop(self, demo_dir: Path, *, size: int, base_iters: int, rounds: int, k: int, round_iters: int,
                       loop_images: int, **_) -> None:
        campaign = Campaign.objects.get(name=CAMPAIGN_NAME)
        dataset = campaign_training_dataset(campaign)
        self.stdout.write(f"\n== learning loop ==\ntraining the first unified segmenter on dataset "
                          f"{UNIFIED_DATASET!r} ({base_iters} iterations on the CPU) ...")
        with self._job_progress("training the first model"):
            job = train_first_model(dataset=dataset, max_iters=base_iters)
        if job.status != "succeeded":
            raise CommandError(f"training failed: {job.message}\n{job.traceback[-2000:]}")
        self.stdout.write(f"job {job.pk}: {job.result['comparison']['reason']}")
        # The new generator makes fewer kinds of artifact than the base set, like a real new model would.
        folder = demo_dir / "loop-newgen"
        generate_dataset(folder, n=loop_images, size=size, seed=11, overwrite=True, kinds=ARTIFACT_KINDS[:4])
        generator = self._generator(LOOP_GENERATOR, family="diffusion")
        if Campaign.objects.filter(name=LOOP_CAMPAIGN).exists():
            self.reused.append(f"campaign {LOOP_CAMPAIGN!r}: its rounds go on from the labels it already has")
        with self._job_progress("round training"):
            rows = run_rounds(folder=folder, generator=generator, campaign_name=LOOP_CAMPAIGN, rounds=rounds, k=k,
                              round_iters=round_iters, log=self.stdout.write)
        self.stdout.write("\nround  labels  production model              promoted  held-out artifact IoU")
        for row in rows:
            self.stdout.write(f"{row.number:5d}  {row.labels:6d}  {row.model:28s}  {'yes' if row.promoted else 'no':8s}"
                              f"  {row.heldout_iou:.3f}   {row.note}")
        # Who serves what now (GET /api/models/routing): the most specific scope with a production model wins.
        self.stdout.write("\nrouting: kind       scope                         model                         images")
        for route in routing_table():
            label = f"{route['model'].name}@{route['model'].version}"
            self.stdout.write(f"         {route['kind']:10s} {route['scope']:29s} {label:29s} {route['images']}")

    @contextmanager
    def _job_progress(self, desc: str) -> Iterator[None]:
        """A bar fed by the progress reports of jobs run in this process (training runs as a job, in-process
        here: the demo has no worker)."""
        with progress_bar(desc=desc, total=100, unit="%", quiet=self.quiet) as bar:
            report = progress_callback(bar)
            with job_progress_listener(lambda job, fraction, message: report(round(fraction * 100), 100)):
                yield

    def _generator(self, key: tuple[str, str], *, family: str, metadata: dict | None = None):
        name, version = key
        generator, created = generator_get_or_create(name=name, version=version, family=family, metadata=metadata)
        if not created:
            self.reused.append(f"generator {str(generator)!r}")
        return generator

    def _benchmarks(self) -> None:
        """Frozen test sets from the demo set's global test split, before any model is trained: every segmenter
        the loop registers is scored on each (IoU and F1 with 95 % intervals, per task and per generator)."""
        for scope in ("global", f"generator:{DEMO_GENERATOR[0]}", "task:other"):
            if benchmark_get(name=scope) is not None:
                self.reused.append(f"benchmark {scope!r}")
                continue
            try:
                benchmark = benchmark_create(scope=scope, min_images=DEMO_BENCHMARK_MIN_IMAGES)
            except ApplicationError as exc:
                self.stdout.write(f"no benchmark {scope}: {exc.message}")
                continue
            self.stdout.write(f"benchmark {scope}: {benchmark.n_images} labelled images of the global test split")

    def _ingest(self, *, n: int, size: int, out: Path) -> None:
        records = generate_dataset(out, n=n, size=size, seed=0, overwrite=True)
        self.stdout.write(f"generated {len(records)} demo images with synthetic artifacts in {out}")
        generator = self._generator(DEMO_GENERATOR, family="other", metadata={
            "about": "scikit-image / scikit-learn sample photos with synthetic artifacts"})
        annotator = user_get_or_create_with_role(username="demo-import", role=Role.ANNOTATOR)
        plan = folder_plan(out, manifest=out / "manifest.jsonl")
        with progress_bar(desc="ingest", total=plan.total, unit="img", quiet=self.quiet) as bar:
            report = images_ingest_batch(items=folder_items(plan), generator=generator,
                                         task=task_resolve(slug="other"), annotator=annotator,
                                         on_item=lambda: bar.update(1))
        if report.duplicates:
            self.reused.append(f"{report.duplicates} demo images (and their masks) already stored")
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
            f"blobs: {settings.STORAGES['blobs']['BACKEND'].rsplit('.', 1)[-1]}"
        )

    def _label_studio_campaign(self, folder: Path, size: int, count: int) -> str:
        """Ingest a few unlabelled images of a "new generator" and send them to Label Studio."""
        records = generate_dataset(folder, n=count, size=size, seed=1, overwrite=True)
        generator = self._generator(NEW_GENERATOR, family="diffusion")
        report = images_ingest_batch(items=folder_items(folder_plan(folder / "images")), generator=generator,
                                     task=task_resolve(slug="text_to_image"))
        if not settings.LABEL_STUDIO_URL:
            return (f"Label Studio: not configured (run `make labelstudio`),"
                    f" so the {report.ingested + report.duplicates}"
                    f" unlabelled images of {generator} were not sent to a campaign")
        campaign = Campaign.objects.filter(name=CAMPAIGN_NAME).first()
        if campaign is None:
            campaign = campaign_create(name=CAMPAIGN_NAME, generator=generator, prelabel_holdout=DEMO_PRELABEL_HOLDOUT)
        else:
            self.reused.append(f"campaign {CAMPAIGN_NAME!r} (Label Studio project {campaign.ls_project_id})")
            campaign_prelabel_holdout_set(campaign=campaign, prelabel_holdout=DEMO_PRELABEL_HOLDOUT)
        campaign_provision(campaign=campaign)
        push = campaign_push_images(campaign=campaign,
                                    image_ids=unlabelled_image_ids(campaign=campaign, limit=len(records)))
        total = CampaignTask.objects.filter(campaign=campaign).count()
        credentials = Path(settings.FLAWMAP_VAR_DIR) / "labelstudio" / "credentials.env"
        login = f"log in with the account in {credentials}" if credentials.is_file() else "your Label Studio login"
        return (f"Label Studio: {settings.LABEL_STUDIO_URL}/projects/{campaign.ls_project_id}/data ({login}): "
                f"campaign {campaign.name!r}, {total} tasks ({push.pushed} pushed now). Annotations come back "
                f"through the webhook while `make serve` runs, or with `python manage.py labelstudio_reconcile`.")

    def _demo_admin(self) -> tuple[str, str, str]:
        username = "demo"
        password = os.environ.get("FLAWMAP_DEMO_PASSWORD") or secrets.token_urlsafe(9)
        user, created = get_user_model().objects.get_or_create(username=username)
        if not created:
            self.reused.append(f"user {username!r} (a new password was set: below)")
        user.set_password(password)
        user.save()
        user.groups.add(Group.objects.get(name=Role.ADMIN.group_name))
        token, _ = Token.objects.get_or_create(user=user)
        return username, password, token.key

    def _next_steps(self, username: str, password: str, token: str, campaign_line: str) -> None:
        base = settings.FLAWMAP_PUBLIC_URL.rstrip("/")
        self.stdout.write(
            f"\n== what next ==\n"
            f"1. `make serve` starts the web app at {base}\n"
            f"2. Dashboard: {base}/dashboard/ (log in as {username} / {password})\n"
            f"3. API docs: {base}/api/docs/ (same login), or with the API token:\n"
            f"   curl -H 'Authorization: Token {token}' '{base}/api/images/?ordering=-par'\n"
            f"4. {campaign_line}"
        )


def _describe(sizes: dict) -> str:
    return ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in sizes.items() if key != "campaign_images")
