# Loaded with Django, so tasks queued by the web processes use the portal's Celery app and its settings.
from portal.celery import app as celery_app

__all__ = ["celery_app"]
