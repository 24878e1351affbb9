"""Every kind of admin page works under the strict Content-Security-Policy: no violation, no console error.

The pages are enumerated from the admin site (each model's changelist, add, change, history, history version,
delete, import, export and custom pages; the dashboard, app lists and the portal's own pages), with ids taken
from the demo data, so a new page is visited without a line here. Pages that answer with a file (PDF, ZIP,
CSV) or refuse GET are fetched instead of shown: they must not fail.
"""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import URLResolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from licensing import demo
from tests.browser.steps import log_in
from tests.factories import OrganizationFactory, sample_records

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = (demo.ADMIN_LOGIN.username, demo.ADMIN_LOGIN.password)
# Collects what the browser refused under the policy, from before the page's own scripts run.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile || location.pathname}` +
  `:${e.lineNumber}`));
"""
# Addresses that are not pages: signing out, and the autocomplete's and translations' data.
NOT_PAGES = {"logout", "autocomplete", "jsi18n", "view_on_site", "login"}


def first(model):
    return model._default_manager.order_by("pk").first()


def model_pages(model, model_admin) -> tuple[list[str], list[str]]:
    """The addresses of every admin page of one model, and those left out (no object to show)."""
    obj = first(model)
    history = getattr(model, "history", None)
    version = None
    if obj is not None and history is not None:
        version = history.filter(**{model._meta.pk.attname: obj.pk}).order_by("history_id").first()
    addresses, left_out = [], []
    for pattern in model_admin.get_urls():
        if isinstance(pattern, URLResolver) or not pattern.name or pattern.name.endswith("_autocomplete"):
            continue
        # Path converters are named; simple-history's re_path groups are positional (object, then version).
        named = list(pattern.pattern.regex.groupindex)
        names = named or ["object_id", "version_id"][: pattern.pattern.regex.groups]
        key = obj and obj.pk
        values = {"object_id": key, "pk": key, "id": key, "version_id": version and version.history_id}
        if any(values.get(name) is None for name in names):
            left_out.append(pattern.name)
            continue
        arguments = [values[name] for name in names]
        if named:
            addresses.append(reverse(f"admin:{pattern.name}", kwargs=dict(zip(names, arguments, strict=True))))
        else:
            addresses.append(reverse(f"admin:{pattern.name}", args=arguments))
    return addresses, left_out


def site_pages() -> list[str]:
    addresses = []
    for pattern in admin.site.get_urls():
        if isinstance(pattern, URLResolver) or not pattern.name or pattern.name in NOT_PAGES:
            continue
        if pattern.pattern.converters and pattern.name != "app_list":
            continue
        if pattern.name == "app_list":
            labels = sorted({model._meta.app_label for model in admin.site._registry})
            addresses += [reverse("admin:app_list", kwargs={"app_label": label}) for label in labels]
        else:
            addresses.append(reverse(f"admin:{pattern.name}"))
    return addresses


def visit(page: Page, address: str) -> str | None:
    """Show `address`; the problems seen there, or None."""
    answer = page.request.get(address, max_redirects=0)
    kind = answer.headers.get("content-type", "")
    if answer.status >= 500:
        return f"{address}: {answer.status}"
    if answer.status != 200 or not kind.startswith("text/html"):
        return None  # a file, a redirect or a refusal of GET: fetched, not shown
    page.goto(address)
    page.wait_for_load_state("load")
    problems = [f"CSP: {text}" for text in page.evaluate("window.__cspViolations")]
    problems += [f"console: {text}" for text in page.health.console_errors]
    problems += [f"request failed: {text}" for text in page.health.failed_requests]
    page.health.console_errors.clear()
    page.health.failed_requests.clear()
    return f"{address}: {'; '.join(problems)}" if problems else None


def test_every_admin_page_works_under_the_content_security_policy(page):
    demo.seed_demo()
    # A record of every organization-owned model (the demo has no imports or reminders), someone's authenticator
    # and backup codes (django-otp); the failed sign-in below gives the lockout pages (axes) theirs.
    sample_records(OrganizationFactory(name="Sample Health", slug="sample-health"), "Sample")
    officer = get_user_model().objects.get(username=demo.OFFICER_LOGIN.username)
    TOTPDevice.objects.create(user=officer, name="Phone")
    StaticDevice.objects.create(user=officer, name="Backup codes").token_set.create(token="abcd1234")
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("demo-officer")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errornote")).to_contain_text("correct username and password")
    page.health.check()
    log_in(page, *ADMIN)

    addresses, left_out = site_pages(), []
    for model, model_admin in admin.site._registry.items():
        found, missing = model_pages(model, model_admin)
        addresses += found
        left_out += missing
    problems = [problem for problem in (visit(page, address) for address in addresses) if problem]
    print(f"{len(addresses)} admin addresses visited under the policy")

    assert len(addresses) > 100, addresses
    assert not problems, "\n".join(problems)
    # Every object page was reachable with the demo data (a new model needs demo records to be visited).
    assert not left_out, sorted(left_out)
