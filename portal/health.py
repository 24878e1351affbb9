"""`/healthz` for the load balancer: 200 while this app server can reach the database and, when jobs go through a
broker (CELERY_BROKER_URL), the broker; 503 naming the part that failed otherwise.

A plain view outside the admin: no sign-in, no session, no transaction (settings.ATOMIC_REQUESTS would open one
before the view and turn a database outage into a 500 instead of an answer). It says only "ok" or "unreachable"
per part, never the error itself, since anyone can ask.
"""

import logging

from django.conf import settings
from django.db import connections, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# Seconds a broker may take to answer: a health check that waits longer than the balancer's own timeout is no use.
BROKER_TIMEOUT = 2.0


def database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("healthz: the database did not answer")
        return False


def broker_ok(url: str) -> bool:
    # Imported here: kombu comes with Celery and costs its import only where a broker is configured.
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT)
        return True
    except Exception:
        logger.exception("healthz: the broker did not answer")
        return False


@never_cache
@require_safe
@transaction.non_atomic_requests
def healthz(request):
    checks = {"database": "ok" if database_ok() else "unreachable"}
    # CELERY_BROKER_URL is empty when jobs run in the web process; then there is no broker to check.
    broker_url = getattr(settings, "CELERY_BROKER_URL", "")
    if broker_url:
        checks["broker"] = "ok" if broker_ok(broker_url) else "unreachable"
    healthy = all(state == "ok" for state in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
