import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from backend.core.secrets import secrets_refuse_weak

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
application = get_wsgi_application()
# gunicorn runs no system checks: refuse known secrets here (backend/core/secrets.py), before the first request.
secrets_refuse_weak(process="the web app")
# Load the URL conf (every view and what the views import) at start rather than on the first request. All of that
# lives as long as the process: freezing it keeps the cyclic GC's full collections, which requests building large
# lists trigger every few requests, from scanning it all again (hundreds of thousands of objects; measured with
# bench/dashboard.py, docs/experiments/dashboard-pages.md).
import_module(settings.ROOT_URLCONF)
gc.freeze()
