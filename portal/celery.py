"""The portal's Celery app: long work (large imports, ZIPs of filings, reports, reminders) off the request.

Configured from Django's settings under the CELERY_ prefix (portal/settings.py). With CELERY_BROKER_URL unset
there is no worker: licensing.jobs runs each job in the web process right after the request's transaction
commits, and a worker or beat started without a broker refuses to start instead of waiting on
amqp://localhost.
"""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@beat_init.connect
def _refuse_to_start_without_a_broker(**kwargs) -> None:
    from django.conf import settings

    if not settings.CELERY_BROKER_URL:
        raise SystemExit(
            "CELERY_BROKER_URL is not set, so there is no queue to serve: jobs run in the web processes. "
            "Set CELERY_BROKER_URL=redis://127.0.0.1:6379/0 for the web processes, the worker and beat alike."
        )
