# Flawmap: `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
INSTALLED := $(VENV)/.installed

.PHONY: install system-deps demo test serve worker migrate schema bench bench-webhook bench-export bench-segmenter bench-active-learning bench-rectify clean labelstudio labelstudio-stop labelstudio-status

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

migrate: install
	$(PY) manage.py migrate --noinput

# Embedded defaults: SQLite under var/, blobs under var/media, Celery tasks in-process.
demo: migrate
	$(PY) scripts/labelstudio.py up
	$(PY) manage.py demo

test: install
	$(PY) scripts/with_test_services.py -- $(PY) -m pytest $(PYTEST_ARGS)

# The web app and a Celery worker (needs CELERY_BROKER_URL; without it tasks run in-process).
serve: migrate
	@if [ -n "$$CELERY_BROKER_URL" ]; then \
		$(VENV)/bin/celery -A backend.config worker -Q default,io,gpu --loglevel INFO & \
		trap "kill $$!" EXIT; \
	fi; \
	$(PY) manage.py runserver $${FLAWMAP_BIND:-127.0.0.1:8000}

worker: install
	$(VENV)/bin/celery -A backend.config worker -Q default,io,gpu --loglevel INFO

schema: install
	$(PY) manage.py spectacular --validate --file var/openapi.yml

bench: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/ingest.py

bench-webhook: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/webhook.py

bench-export: install
	$(PY) scripts/with_test_services.py -- $(PY) bench/export.py

# Model benchmarks need no database; each prints its figures (run them alone: they are CPU-time figures).
bench-segmenter: install
	$(PY) bench/segmenter.py all

bench-active-learning: install
	$(PY) bench/active_learning.py

bench-rectify: install
	$(PY) bench/rectify.py

# Local Label Studio 1.23.2 (own venv .venv-labelstudio) on 127.0.0.1:8089; writes var/labelstudio.env
labelstudio: $(INSTALLED)
	$(PY) scripts/labelstudio.py up

labelstudio-stop:
	$(PY) scripts/labelstudio.py stop

labelstudio-status:
	$(PY) scripts/labelstudio.py status

clean:
	rm -rf var/media var/flawmap.sqlite3 var/demo
