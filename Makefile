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

.PHONY: install system-deps dev-secrets demo test fuzz lint serve webhook-ingress worker migrate schema bench bench-webhook bench-export bench-segmenter bench-active-learning bench-rectify bench-vlm bench-time-saved vlm-eval bench-dashboard clean labelstudio labelstudio-stop labelstudio-status

install: system-deps $(INSTALLED)

# torch goes in first and pinned: an unpinned torch (even as a dependency) pulls CUDA builds.
# mmcv goes last: it is built against the installed torch (see scripts/install_mmcv.sh).
$(INSTALLED): requirements.txt requirements-ml.txt scripts/install_mmcv.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet -r requirements-ml.txt
	bash scripts/install_mmcv.sh $(PIP)
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

# The web app and a Celery worker (needs CELERY_BROKER_URL; without it tasks run in-process).
serve: migrate
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
		$(VENV)/bin/celery -A backend.config worker -Q default,io,gpu --loglevel INFO & \
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
