"""API fuzzing (`make fuzz`, part of `make test`): schemathesis generates requests from /api/schema/ and sends them
to a live server (pytest-django's threaded `live_server`, a throwaway database) with a viewer's and an admin's
token. Target: no 5xx and no response that breaks the schema (status code, content type, body).

Each operation runs twice per token: with generated path ids (mostly 404s) and with the seeded objects' ids (the
200s whose bodies the schema must describe). The admin also gets negative data (what the schema forbids). Bounded:
MAX_EXAMPLES per run, no shrinking, a fixed seed (derandomize) so a failure reproduces; about 1,300-1,800
requests, 75 s on an idle 2-core machine, under 4 minutes on a busy one. Jobs are queued on the test Redis and
never run (no worker), so training, exports and fixes stay queued: bounded work, and what the API answers is what
is checked. Throttles stay on (a 429 is a documented answer); the ~18 reward calls stay under its 60/min.
"""

from __future__ import annotations

import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import _user
from tests.datasets.helpers import labelled_image
from tests.factories import GeneratorFactory

pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = 8


def no_server_error(ctx, response, case):
    """Any 5xx fails, except a 503 the operation documents: a declared condition (Label Studio or the broker
    down, no production model yet) answered with a message."""
    if response.status_code == 503 and "503" in case.operation.definition.raw.get("responses", {}):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# No operation is left out: training, exports, fixes and dataset builds are only queued (see queued_jobs_only).
# These two create a Label Studio project (and webhook) per call, a second or more each: the admin's positive
# examples only, two of them (the viewer's and negative calls are refused before Label Studio is asked).
LS_HEAVY = {("POST", "/api/campaigns/"), ("POST", "/api/generators/{generator_id}/onboard")}


@pytest.fixture
def queued_jobs_only(tasks_on_test_broker):
    """Jobs go to the test broker and stay there: the fuzz must not train, export or inpaint for real."""


@pytest.fixture
def ls(labelstudio_server, settings):
    from annotator.client import ls_client
    from annotator.models import Campaign

    settings.LABEL_STUDIO_URL = labelstudio_server.url
    settings.LABEL_STUDIO_API_KEY = labelstudio_server.api_key
    yield
    for project_id in Campaign.objects.exclude(ls_project_id=None).values_list("ls_project_id", flat=True):
        ls_client().sdk.projects.delete(id=project_id)


def _seed(admin) -> dict[str, dict[str, object]]:
    """A little of everything the API shows; returns the path parameters that reach each seeded object."""
    from annotator.services.provision import campaign_create_provisioned
    from annotator.signing import image_signed_url
    from backend.annotations.models import Annotation
    from backend.mlmodels.models import ModelVersion
    from backend.quality.services import fix_job_request
    from datasets.services import dataset_create, dataset_version_build, dataset_version_start, export_request

    generators = [GeneratorFactory(name=f"fuzz-gen-{i}") for i in range(2)]
    images = [labelled_image(admin, seed=i, generator=generators[i % 2]) for i in range(4)]
    # In production, so that fixes can be asked for (and the reward finds a segmenter)
    segmenter = ModelVersion.objects.create(kind="segmenter", name="fuzz-seg", version="1", metrics={"miou": 0.5},
                                            status="production")
    # A filled benchmark score (one group with nothing to find: its IoU and interval are null) for models/.
    from datasets.benchmarks import score_metrics
    from datasets.models import Benchmark, BenchmarkScore

    rows = [{"image": images[0].pk, "task": "text_to_image", "generator": str(generators[0]), "tp": 5, "fp": 1,
             "fn": 2}, {"image": images[1].pk, "task": "inpainting", "generator": str(generators[1]), "tp": 0,
                        "fp": 0, "fn": 0}]
    benchmark = Benchmark.objects.create(scope="global", name="global", items=[], n_images=2, min_images=1)
    BenchmarkScore.objects.create(model_version=segmenter, benchmark=benchmark, metrics=score_metrics(rows),
                                  items=rows)
    campaign = campaign_create_provisioned(name=f"fuzz-{uuid.uuid4().hex[:6]}", generator=generators[0])
    dataset = dataset_create(name="fuzz-set")
    version = dataset_version_build(version=dataset_version_start(dataset=dataset, author=admin))
    export = export_request(version=version, fmt="coco", requested_by=admin)
    fix = fix_job_request(image=images[1], requested_by=admin)
    annotation = Annotation.objects.filter(image=images[0]).first()
    image = {"image_id": images[0].pk}
    return {
        "generator_id": {"generator_id": generators[0].pk}, "image_id": image,
        "annotation_id": {"annotation_id": annotation.pk}, "campaign_id": {"campaign_id": campaign.pk},
        "dataset_id": {"dataset_id": dataset.pk, "number": version.number, "a": version.number, "b": version.number},
        "export_id": {"export_id": export.pk}, "job_id": {"job_id": export.job_id},
        "model_id": {"model_id": ModelVersion.objects.get(name="fuzz-seg").pk},
        "token": {"token": image_signed_url(image_id=images[0].pk).rsplit("/", 1)[1]},
        "fix": {"job_id": fix.pk},
    }


def _seeded_parameters(path: str, seeded: dict[str, dict[str, object]]) -> dict[str, object] | None:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    if not names:
        return None
    if path.startswith("/api/quality/fixes/"):
        return seeded["fix"]
    values: dict[str, object] = {}
    for name in names:
        for group in seeded.values():
            if name in group:
                values[name] = group[name]
                break
    return values


def _fuzz(operation, *, base_url: str, token: str, mode: GenerationMode, path_parameters, max_examples: int,
          counter: list[int]) -> None:
    headers = {"Authorization": f"Token {token}"}
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @hypothesis_settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        counter[0] += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)

    run()


@pytest.mark.usefixtures("queued_jobs_only", "ls")
def test_api_fuzz_no_server_errors_and_no_schema_violations(live_server, settings, capsys):
    admin = _user("fuzz-admin", "admin")
    viewer = _user("fuzz-viewer", "viewer")
    seeded = _seed(admin)
    tokens = {"viewer": Token.objects.create(user=viewer).key, "admin": Token.objects.create(user=admin).key}
    # The schema needs a role, like the API (SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"])
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", timeout=60,
                                           headers={"Authorization": f"Token {tokens['viewer']}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    started, counter, failures, runs, seconds = time.monotonic(), [0], [], 0, {}
    # The viewer first: the admin's DELETEs may remove seeded objects, which the later calls then find gone (404).
    plan = [("viewer", GenerationMode.POSITIVE), ("admin", GenerationMode.POSITIVE), ("admin", GenerationMode.NEGATIVE)]
    for role, mode in plan:
        for operation in operations:
            key = (operation.method.upper(), operation.path)
            if key in LS_HEAVY and (role, mode) != ("admin", GenerationMode.POSITIVE):
                continue
            # A viewer's write is refused before its body is read: a few examples show the 403 is documented.
            examples = 2 if key in LS_HEAVY or (role == "viewer" and key[0] != "GET") else MAX_EXAMPLES
            seeded_params = _seeded_parameters(operation.path, seeded)
            for path_parameters in ([None, seeded_params] if seeded_params else [None]):
                runs += 1
                op_started = time.monotonic()
                try:
                    _fuzz(operation, base_url=live_server.url, token=tokens[role], mode=mode,
                          path_parameters=path_parameters, counter=counter, max_examples=examples)
                except Unsatisfiable:
                    continue  # negative mode: nothing in this operation's schema to break (no body, no query)
                # schemathesis raises a group (a BaseExceptionGroup); every failing run is reported, not just the first
                except (Exception, BaseExceptionGroup) as exc:
                    where = "seeded ids" if path_parameters else "generated ids"
                    failures.append(f"{key[0]} {key[1]} [{role}, {mode.value}, {where}]:\n{str(exc)[:3000]}")
                finally:
                    seconds[key] = seconds.get(key, 0.0) + time.monotonic() - op_started
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[fuzz] {len(operations)} operations, {runs} runs, {counter[0]} requests, "
              f"{len(failures)} failing runs, {elapsed:.0f} s; slowest: "
              + ", ".join(f"{m} {p} {t:.0f} s" for (m, p), t in sorted(seconds.items(), key=lambda i: -i[1])[:5]))
    assert not failures, "\n\n".join(failures)


# What the fuzz found, each pinned by a plain test (these need no live server or Label Studio).

@pytest.mark.django_db
def test_an_api_url_no_route_matches_is_a_json_404(viewer_client):
    r = viewer_client.get("/api/images/-1/")  # `<int:>` takes digits only: no route, Django's own 404
    assert r.status_code == 404 and r["Content-Type"] == "application/json" and r.json()["detail"] == "not found"


@pytest.mark.django_db
def test_ingest_naming_an_unknown_generator_id_is_a_400(admin_client):
    from tests.conftest import png_bytes, upload

    r = admin_client.post("/api/images/", {"files": [upload("a.png", png_bytes())], "generator": "987654",
                                           "task": "text_to_image"}, format="multipart")
    assert r.status_code == 400 and "no generator with id 987654" in r.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", ["uncertainty", "random"])
def test_next_batch_with_no_unlabelled_image_picks_nothing(admin_client, strategy):
    from annotator.models import Campaign
    from backend.mlmodels.models import ModelVersion

    ModelVersion.objects.create(kind="segmenter", name="seg", version="1", status="production")
    campaign = Campaign.objects.create(name="empty", generator=GeneratorFactory())
    r = admin_client.post(f"/api/campaigns/{campaign.pk}/next-batch", {"strategy": strategy}, format="json")
    assert r.status_code == 200, r.content  # was an IndexError (500) for a scored strategy
    assert (r.json()["candidates"], r.json()["picked"], r.json()["pushed"], r.json()["round"]) == (0, [], 0, None)


def test_schema_documents_pages_and_the_framework_errors():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    images = paths["/api/images/"]["get"]["responses"]
    assert images["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedImageOutputList")
    assert {"400", "401", "403", "404"} <= set(images)  # bad filter, no token, no role, no such page
    formats = paths["/api/export-formats/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert formats["type"] == "array"  # pagination_class = None: the whole list
    assert {"400", "401", "403", "404", "409"} <= set(paths["/api/images/{image_id}/"]["delete"]["responses"])
    webhook = paths["/api/labelstudio/webhook/"]["post"]["responses"]
    assert {"400", "403", "413"} <= set(webhook) and "401" not in webhook  # the shared secret, no account
