"""Flawmap settings: one module per integration, all read from the environment.

Every variable read here is listed in `.env.example`.
"""

from backend.config.settings.api import *  # noqa: F401,F403
from backend.config.settings.base import *  # noqa: F401,F403
from backend.config.settings.browse import *  # noqa: F401,F403
from backend.config.settings.celery import *  # noqa: F401,F403
from backend.config.settings.database import *  # noqa: F401,F403
from backend.config.settings.datasets import *  # noqa: F401,F403
from backend.config.settings.ingest import *  # noqa: F401,F403
from backend.config.settings.jobs import *  # noqa: F401,F403
from backend.config.settings.labelstudio import *  # noqa: F401,F403
from backend.config.settings.ml import *  # noqa: F401,F403
from backend.config.settings.quality import *  # noqa: F401,F403
from backend.config.settings.security import *  # noqa: F401,F403
from backend.config.settings.storage import *  # noqa: F401,F403
from backend.config.settings.vlm import *  # noqa: F401,F403
