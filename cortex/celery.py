"""The Celery app ``cortex``: background work (JWKS refresh, scope sync) as thin tasks over plain functions.

Configured from Django settings under the ``CELERY_`` namespace (``cortex/settings.py``, "Background work"):
Redis from ``REDIS_URL`` as broker and result store; the schedule is django-celery-beat's database
scheduler, so each tenant's periodic tasks (``authz.schedules``) are rows an admin can edit. Start them with
``make worker`` and ``make beat``. Without ``REDIS_URL`` tasks run inline (``task_always_eager``), and the
same work is ``manage.py refresh_jwks`` / ``manage.py sync_scopes``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cortex.settings")

app = Celery("cortex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
