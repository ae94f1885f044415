# Flawmap: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INSTALLED := $(VENV)/.installed
# A variable from the environment, else from .env (as the settings read them), else a default.
setting = $(or $($(1)),$(shell sed -n 's/^\(export \)\{0,1\}$(1)=//p' .env 2>/dev/null | tail -n 1),$(2))
# Runtime state (SQLite, blobs, Label Studio, demo data): FLAWMAP_VAR_DIR, as the settings read it.
VAR := $(call setting,FLAWMAP_VAR_DIR,var)

.PHONY: install system-deps dev-secrets demo test fuzz cluster-smoke lint serve webhook-ingress worker inference-worker migrate schema bench bench-webhook bench-export bench-segmenter bench-active-learning bench-rectify bench-vlm bench-time-saved vlm-eval bench-dashboard bench-browse bench-reward bench-scale bench-all clean labelstudio labelstudio-stop labelstudio-status

install: system-deps $(INSTALLED)

# One install path for this venv and the Dockerfile's images (torch pinned first, mmcv built last against it).
$(INSTALLED): requirements.txt requirements-ml.txt scripts/install_python_deps.sh scripts/install_mmcv.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	bash scripts/install_python_deps.sh $(PIP)
	touch $@

system-deps:
	bash scripts/install_system_deps.sh

# With DJANGO_DEBUG off Flawmap refuses to start without real secrets; a local setup gets random ones, written to
# $(VAR)/dev-secrets.env once (the environment and .env win over it). Every target that runs the app makes it first.
dev-secrets: install
	@$(PY) scripts/dev_secrets.py >/dev/null

migrate: install dev-secrets
	$(PY) manage.py migrate --noinput

# Embedded defaults: SQLite under $(VAR)/, blobs under $(VAR)/media, Celery tasks in-process.
# DEMO_ARGS=--quick: the same path in about a minute (what the test suite runs); --quiet: no progress bars.
demo: migrate
	$(PY) scripts/labelstudio.py up
	$(PY) manage.py demo $(DEMO_ARGS)

# Style (ruff) and the house's layers (import-linter contracts in pyproject.toml); `make test` runs it first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

test: install lint dev-secrets
	$(PY) scripts/with_test_services.py -- $(PY) -m pytest $(PYTEST_ARGS)

# schemathesis over /api/schema/ against a live server with a viewer's and an admin's token: no 5xx, no response
# outside the schema (a few minutes; `make test` runs the same test, tests/security/test_api_fuzz.py, once).
fuzz: install dev-secrets
	$(PY) scripts/with_test_services.py -- $(PY) -m pytest -q tests/security/test_api_fuzz.py $(PYTEST_ARGS)

# A multi-host rehearsal: S3 (moto), web, webhook ingress + drain and the io and gpu workers as separate processes
# with separate scratch folders, meeting only through PostgreSQL, Redis and S3, driven over HTTP with the real Label
# Studio, then a gpu worker killed mid-training (tests/deploy/test_cluster_smoke.py; also part of `make test`).
cluster-smoke: install dev-secrets
	$(PY) scripts/with_test_services.py -- $(PY) -m pytest -q tests/deploy/test_cluster_smoke.py $(PYTEST_ARGS)

# The web app and a Celery worker (needs CELERY_BROKER_URL; without it tasks run in-process).
serve: migrate
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
		$(VENV)/bin/celery -A backend.config worker -Q default,io,gpu,inference --loglevel INFO & \
		trap "kill $$!" EXIT; \
	fi; \
	$(PY) manage.py runserver $(call setting,FLAWMAP_BIND,127.0.0.1:8000)

# The fast webhook front door on :8001 and its drain (needs a Redis CELERY_BROKER_URL or
# FLAWMAP_WEBHOOK_STREAM_URL); point LABEL_STUDIO_WEBHOOK_URL at http://HOST:8001/api/labelstudio/webhook/
webhook-ingress: migrate
	$(PY) manage.py webhook_drain & trap "kill $$!" EXIT; \
	$(VENV)/bin/uvicorn annotator.webhook_ingress:app --host 127.0.0.1 --port 8001 --loop uvloop --http httptools --no-access-log

worker: install dev-secrets
	$(VENV)/bin/celery -A backend.config worker -Q default,io,gpu --loglevel INFO

# The inference service behind POST /api/reward (run it on the GPU host): one process with a thread per waiting
# request, the models loaded once, concurrent requests batched together (backend/mlmodels/inference.py).
inference-worker: install dev-secrets
	$(VENV)/bin/celery -A backend.config worker -Q $(call setting,FLAWMAP_INFERENCE_QUEUE,inference) --pool threads \
		--concurrency $(call setting,FLAWMAP_INFERENCE_CONCURRENCY,16) --hostname inference@%h --loglevel INFO

schema: install dev-secrets
	mkdir -p "$(VAR)"
	$(PY) manage.py spectacular --validate --file "$(VAR)/openapi.yml"

bench: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/ingest.py

bench-webhook: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/webhook.py

bench-export: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/export.py

# Server time and SQL queries of every dashboard page with 10k images and 20k annotations.
bench-dashboard: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/dashboard.py

bench-browse: install  # the data browser: gallery page, cached and new thumbnails (bench/browse.py)
	$(PY) scripts/with_test_services.py -- $(PY) bench/browse.py

# /api/reward through gunicorn + the inference worker vs a direct Predictor loop (bench/README.md).
bench-reward: install dev-secrets
	$(PY) scripts/with_test_services.py -- $(PY) bench/reward.py

# Request times, snapshot and diff at 10k and 100k images (rows written with COPY; --huge adds 1M): bench/scale.py.
bench-scale: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/scale.py

# Every benchmark that needs no GPU, quick sizes, one after the other: bench/results/latest.md (figure, target,
# pass/fail) and latest.json. `make bench-all BENCH_ALL="--skip ml"` for the database ones only.
bench-all: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/all.py $(BENCH_ALL)

# Model benchmarks need no database; each prints its figures (run them alone: they are CPU-time figures).
bench-segmenter: install
	$(PY) bench/segmenter.py all

bench-active-learning: install
	$(PY) bench/active_learning.py

bench-rectify: install
	$(PY) bench/rectify.py

bench-vlm: install
	$(PY) bench/vlm.py

# The randomised pre-label holdout on simulated labellers: does its interval cover the known saving? (~6 s)
bench-time-saved: install
	$(PY) bench/time_saved.py

# The VLM classifier end to end on demo data, offline on the CPU: a vlm-jsonl export of synthetic artifacts,
# the tiny random-weight base, LoRA training, then the tuned-vs-base table on the test split (~2-4 min).
VLM_EVAL_DIR ?= $(VAR)/vlm-eval
VLM_EVAL_STEPS ?= 400
vlm-eval: install
	rm -rf $(VLM_EVAL_DIR) && mkdir -p $(VLM_EVAL_DIR)
	$(PY) -m ml.vlm.demo_data --out $(VLM_EVAL_DIR)/data --n 48 --size 96
	$(PY) -m ml.vlm.tiny --out $(VLM_EVAL_DIR)/base --classes $(VLM_EVAL_DIR)/data
	$(PY) -m ml.vlm.train --data $(VLM_EVAL_DIR)/data --base $(VLM_EVAL_DIR)/base --out $(VLM_EVAL_DIR)/tuned \
		--max-steps $(VLM_EVAL_STEPS) --lr 5e-3 --device cpu
	$(PY) -m ml.vlm.evaluate --model $(VLM_EVAL_DIR)/tuned --data $(VLM_EVAL_DIR)/data --split test \
		--device cpu --json $(VLM_EVAL_DIR)/report.json

# Local Label Studio 1.23.2 (own venv .venv-labelstudio) on 127.0.0.1:8089; writes $(VAR)/labelstudio.env
labelstudio: $(INSTALLED)
	$(PY) scripts/labelstudio.py up

labelstudio-stop:
	$(PY) scripts/labelstudio.py stop

labelstudio-status:
	$(PY) scripts/labelstudio.py status

clean:
	rm -rf "$(VAR)/media" "$(VAR)/flawmap.sqlite3" "$(VAR)/demo"
