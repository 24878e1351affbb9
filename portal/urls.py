from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from portal.health import healthz


def favicon(request):
    """Browsers ask for /favicon.ico whatever a page links; answer with the portal's icon (resolved per request,
    so production's hashed static names need no collectstatic at import time)."""
    return HttpResponsePermanentRedirect(static("licensing/favicon.svg"))


urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("favicon.ico", favicon),
    # For the load balancer (portal.health): the database and the broker answer.
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
