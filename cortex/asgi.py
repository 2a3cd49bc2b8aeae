"""ASGI entry point, for servers that prefer ASGI."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cortex.settings")

application = get_asgi_application()
