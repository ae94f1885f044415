# Flawmap application image (web, Celery worker, Celery beat, migrations).
# Built by docker-compose.yml; the command is chosen per service there.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=backend.config.settings

WORKDIR /app

# CPU-only PyTorch first, from the PyTorch CPU index. When requirements.txt
# pins torch==2.13.0, pip finds it already satisfied by this +cpu build instead
# of pulling the much larger CUDA wheels from PyPI. Keep both pins in sync.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Dependencies in their own layer: code edits do not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

RUN groupadd --system --gid 10001 flawmap \
 && useradd --system --uid 10001 --gid flawmap --create-home --home-dir /home/flawmap \
      --shell /usr/sbin/nologin flawmap

# Code stays root-owned (read-only for the app user). See .dockerignore.
COPY . .

# Writable runtime dirs: var/ (FLAWMAP_VAR_DIR default: static root, beat
# schedule) and the media mount point. A new named volume mounted at
# /data/media copies this ownership, so the app user can write to it.
RUN mkdir -p /app/var /data/media \
 && chown flawmap:flawmap /app/var /data/media

USER flawmap

EXPOSE 8000

CMD ["gunicorn", "backend.config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
