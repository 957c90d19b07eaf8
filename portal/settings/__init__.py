"""The one settings module. Everything that differs between machines comes from the environment.

PORTAL_ENV selects the defaults: ``development`` (the default: SQLite under ``var/`` and an
embedded broker unless DATABASE_URL / REDIS_URL say otherwise), ``test`` (PostgreSQL and Redis on
their default local ports) and ``production`` (refuses to start without its secrets).
"""

# Each section is its own module; they are read in this order (each reads only the ones before
# it), and every setting lands here, so DJANGO_SETTINGS_MODULE stays "portal.settings".
from __future__ import annotations

# isort: off
from .base import *  # noqa: F403
from .databases import *  # noqa: F403
from .security import *  # noqa: F403
from .rules import *  # noqa: F403
from .kyc import *  # noqa: F403
from .expiry import *  # noqa: F403
from .compliance import *  # noqa: F403
from .celery import *  # noqa: F403
from .spend import *  # noqa: F403
from .webhooks import *  # noqa: F403
from .email import *  # noqa: F403
from .api import *  # noqa: F403
from .logging import *  # noqa: F403
# isort: on
