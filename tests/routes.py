"""Every URL pattern of the portal, and how the enumerated tests (scoping, auditors, no 500) fill its arguments.

The patterns are read from Django's resolver, never listed by hand; what is listed here is how to fill each
kind of pattern. A pattern the tables below do not know makes `routes()` raise, naming the pattern and how to
add it, so a new view cannot slip past the scoping and auditor tests.

To cover a new URL: add its pattern name to CUSTOM_ROUTES (an object page of one model admin: its `<...>`
argument is that model's id), or its name or route to SITE_ROUTES (a page without a record), with the kind
of arguments it takes and the query strings worth sending it.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver

from portal.admin_site import PortalAdminSite

# Kinds of arguments a pattern takes.
NONE = "none"  # no argument
OBJECT = "object"  # one record's id (<path:object_id>, <int:object_id>, <id>)
VERSION = "version"  # a record's id and one of its history ids
SHORTCUT = "shortcut"  # a content type id and a record's id (/admin/r/...)
APP = "app"  # an app label
ANY_PATH = "any path"  # a catch-all

# Query strings sent to every page (malformed on purpose). Parameters a page tolerates one by one (ignoring or
# correcting them) go together; one that sends the page elsewhere (an unknown filter) goes alone.
MALFORMED_QUERIES = [
    {"year": "abc", "o": "zzz", "p": "-1", "position": "zzz", "attention": "zzz", "format": "zzz", "all": "zzz"},
    {"year": "99999", "o": "99999999999999999999", "p": "abc", "q": "a\x00b", "_popup": "zzz"},
    {"q": "x" * 10_000, "p": "99999999999999999999"},
    {"zzz": "1"},
    {"e": "1"},
    {
        "since": "9999-12-31",
        "until": "1800-01-01",
        "at": "9999-12-31T00:00:00",
        "data_import": str(10**30),
        "person": "a\x00b",
        "type": "zzz",
        "field": "zzz",
    },
    {"since": "2024-13-45", "at": "abc", "data_import": "-1", "format": "csv"},
]
# Django's pages of one record read little of the query string: these are enough there.
MALFORMED_RECORD_QUERIES = [{"_changelist_filters": "year=abc&o=zzz&q=a\x00b"}, {"p": "abc"}, {"_popup": "zzz"}]

# Django's own pages of every model admin, by the route after admin/<app>/<model>/: covered for every model
# in the registry, with that model's record.
MODEL_ROUTES = {
    "": NONE,
    "add/": NONE,
    "import/": NONE,
    "export/": NONE,
    "template/": NONE,
    "<path:object_id>/": OBJECT,
    "<path:object_id>/change/": OBJECT,
    "<path:object_id>/delete/": OBJECT,
    "<path:object_id>/history/": OBJECT,
    "^([^/]+)/history/([^/]+)/$": VERSION,
    # django.contrib.auth's UserAdmin.
    "<id>/password/": OBJECT,
}

# Pages a model admin adds for one of its records, by pattern name; the argument is that model's id.
CUSTOM_ROUTES = {
    "licensing_organization_audit_trail": [{}, {"format": "csv"}, {"format": "xlsx"}],
    "licensing_organization_as_of": [{}, {"at": "2026-06-01T00:00:00"}, {"format": "csv"}],
    "licensing_organization_verify": [{}],
    "licensing_organization_prepare_filing": [{}],
    "licensing_organization_report": [{}, {"format": "pdf"}, {"format": "csv"}, {"format": "xlsx"}],
    "licensing_organization_reconcile": [{}, {"year": "2026", "finding": "left", "p": "2", "fp": "x"}],
    "licensing_filing_pdf": [{}],
    "licensing_filing_submit": [{}],
    "licensing_filing_verify": [{}],
    "licensing_filing_correct": [{}],
    "licensing_filing_outcome": [{}],
    # POST count and reason: acknowledge a count's plausibility warning.
    "licensing_filing_acknowledge": [{}],
    # An evidence file's content, served after checking the person's access and the file's SHA-256.
    "licensing_evidencefile_download": [{}],
    # A job's progress (for its page's script) and its result file.
    "licensing_job_progress": [{}],
    "licensing_job_download": [{}],
    # django-otp's device admin: a device's secret and QR code (refused to everyone: secrets stay hidden).
    "otp_totp_totpdevice_config": [{}],
    "otp_totp_totpdevice_qrcode": [{}],
}

# Pages of the site as a whole, by pattern name (or route when unnamed): (kind, query strings to send).
SITE_ROUTES = {
    "": (NONE, [{}]),
    "favicon.ico": (NONE, [{}]),
    # The load balancer's health check (portal.health): no sign-in, reads no query string.
    "healthz": (NONE, [{}]),
    "index": (NONE, [{}, {"year": "2026"}]),
    "login": (NONE, [{}]),
    "logout": (NONE, [{}]),
    "password_change": (NONE, [{}]),
    "password_change_done": (NONE, [{}]),
    "jsi18n": (NONE, [{}]),
    "autocomplete": (NONE, [{}]),  # every field of every admin: see autocomplete_requests()
    "view_on_site": (SHORTCUT, [{}]),
    # The signed-in person's own two-factor device (portal.two_factor): enrol, and the code asked at sign-in.
    "two_factor": (NONE, [{}, {"next": "https://elsewhere.example/"}]),
    "two_factor_verify": (NONE, [{}, {"next": "//elsewhere.example/"}]),
    "app_list": (APP, [{}]),
    "admin/(?P<url>.*)$": (ANY_PATH, [{}]),
}


@dataclass(frozen=True)
class Route:
    """One URL pattern: where it sits, its name, the model admin it belongs to (if any), and how to fill it."""

    route: str
    name: str | None
    kind: str
    model: type[models.Model] | None = None
    queries: list[dict] = field(default_factory=lambda: [{}])

    @property
    def key(self) -> str:
        return self.name or self.route

    def path(self, *values) -> str:
        """The address with `values` in place of the pattern's arguments, in order."""
        text = self.route
        values = [str(value) for value in values]
        text = re.sub(r"\(\?P<\w+>[^)]*\)|\([^)]*\)|<(?:\w+:)?\w+>", lambda _: values.pop(0), text)
        assert not values, f"{self.key}: more values than arguments"
        return "/" + text.replace("^", "").replace("$", "")

    def __str__(self) -> str:
        return self.key


def _walk(patterns, prefix="") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _site():
    from django.contrib import admin

    assert isinstance(admin.site, PortalAdminSite)
    return admin.site


def _model_of(route: str):
    for model in _site()._registry:
        start = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if route.startswith(start):
            return model, route[len(start) :]
    return None, route


def routes(*, strict: bool = True) -> list[Route]:
    """Every URL pattern, each with how to fill it; raises for a pattern the tables do not cover (if `strict`)."""
    found, unknown = [], []
    for route, pattern in _walk(get_resolver().url_patterns):
        model, rest = _model_of(route)
        if model is not None and rest in MODEL_ROUTES:
            found.append(Route(route, pattern.name, MODEL_ROUTES[rest], model))
        elif model is not None and pattern.name in CUSTOM_ROUTES:
            found.append(Route(route, pattern.name, OBJECT, model, CUSTOM_ROUTES[pattern.name]))
        elif (pattern.name or route) in SITE_ROUTES:
            kind, queries = SITE_ROUTES[pattern.name or route]
            found.append(Route(route, pattern.name, kind, None, queries))
        else:
            unknown.append(f"{route} (name {pattern.name!r})")
    if unknown and strict:
        raise LookupError(
            "These URL patterns are not covered by the enumerated tests: "
            + "; ".join(unknown)
            + ". Add each to tests/routes.py: CUSTOM_ROUTES for a page of one record of a model admin "
            "(its argument is that model's id), SITE_ROUTES for a page of the site, with the query strings "
            "it reads."
        )
    return found


def latest_history_id(obj) -> int:
    return obj.history.order_by("-history_id").values_list("history_id", flat=True).first()


def requests_for(route: Route, target, *, missing: bool = False, malformed: bool = False) -> list[tuple[str, dict]]:
    """(path, query) pairs that exercise `route` for record `target` (or for an id no record has); with
    `malformed`, the route's query strings and every malformed one."""
    if malformed:
        generic = route.kind in (OBJECT, VERSION) and route.name not in CUSTOM_ROUTES
        route = replace(route, queries=route.queries + (MALFORMED_RECORD_QUERIES if generic else MALFORMED_QUERIES))
    if route.kind == NONE:
        return [(route.path(), query) for query in route.queries]
    if route.kind == APP:
        return [(route.path(app), query) for app in ("licensing", "auth", "zzz") for query in route.queries[:1]]
    if route.kind == ANY_PATH:
        return [(route.path("no-such-page/"), {})]
    if route.kind == SHORTCUT:
        content_type = ContentType.objects.get_for_model(type(target))
        return [(route.path(content_type.pk, missing_id(target) if missing else target.pk), {})]
    object_id = missing_id(target) if missing else target.pk
    if route.kind == OBJECT:
        return [(route.path(object_id), query) for query in route.queries]
    if route.kind == VERSION:
        version = latest_history_id(target) + (10**6 if missing else 0)
        return [(route.path(object_id, version), {})]
    raise AssertionError(f"{route}: unknown kind {route.kind}")


def missing_id(obj) -> int:
    """An id no record of the model has (the highest id plus a million)."""
    highest = type(obj)._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0
    return highest + 10**6


def autocomplete_fields() -> list[tuple[type[models.Model], str]]:
    """(model, field name) of every autocomplete field of every admin and inline in the registry."""
    site = _site()
    pairs = []
    for model, model_admin in site._registry.items():
        for admin_ in [model_admin, *(inline(model, site) for inline in model_admin.inlines)]:
            for name in admin_.autocomplete_fields:
                pairs.append((admin_.model, name))
    return sorted(set(pairs), key=lambda pair: (pair[0]._meta.label, pair[1]))


def autocomplete_requests(term: str) -> list[dict]:
    return [
        {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": name, "term": term}
        for model, name in autocomplete_fields()
    ]


def body_of(response) -> bytes:
    """The whole body, streamed or not."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def row_counts() -> dict[str, int]:
    """Rows of every tracked model, its history, and the people and groups: what a refused request must not change."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from licensing.audit.records import tracked_models

    counted = [get_user_model(), Group]
    for model in tracked_models():
        counted += [model, model.history.model]
    return {model._meta.label: model._default_manager.count() for model in counted}
