"""seed_demo: the Riverbend Health demo, its logins, running it twice, and bulk scale runs with full history."""

import hashlib
import math
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.http import HttpRequest
from django.test import override_settings
from django.urls import reverse

from licensing import access, counting, demo, filings, reconciliation_selectors, roles, services, standing
from licensing.models import (
    Application,
    BaseMetrics,
    Contact,
    DataImport,
    Filing,
    License,
    Membership,
    Organization,
    UserCount,
    Vendor,
)
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine
from licensing.reconciliation import FindingKind

# The module-wide seed runs before the suite's per-test fast hasher applies; the logins must match it.
FAST_PASSWORDS = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])

pytestmark = pytest.mark.django_db

DOMAIN_MODELS = [
    Organization, Contact, BaseMetrics, Vendor, Application, UserCount, License, Membership,
    Person, RoleMapping, Roster, RosterLine,
]  # fmt: skip
LinkHistory = apps.get_model("licensing", "HistoricalApplication_data_files")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # The real hasher takes about half a second per demo account; the logins behave the same.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo seeded once for the tests of this file (a seed takes seconds), inside a transaction each test's
    own one nests in, rolled back after the last."""
    with django_db_blocker.unblock(), transaction.atomic(), FAST_PASSWORDS:
        yield seed()
        transaction.set_rollback(True)


@pytest.fixture
def system(seeded):
    return Organization.objects.get(slug=demo.DEMO_SYSTEM_SLUG)


def demo_applications():
    return Application.objects.filter(organization__slug__startswith="riverbend-")


def table_sizes() -> dict[str, int]:
    models = apps.get_app_config("licensing").get_models(include_auto_created=True)
    sizes = {model._meta.label: model._default_manager.count() for model in models}
    sizes["users"] = get_user_model().objects.count()
    return sizes


def test_creates_a_health_system_with_four_affiliates(system):
    assert system.name == "Riverbend Health"
    assert system.kind == Organization.Kind.HEALTH_SYSTEM
    assert system.parent is None
    kinds = sorted(system.affiliates.values_list("kind", flat=True))
    assert kinds == ["ambulatory_clinic", "ambulatory_clinic", "hospital", "physician_group"]
    for organization in [system, *system.affiliates.all()]:
        organization.full_clean()  # EIN and NPI check digit
        assert len(organization.ein) == 9 and len(organization.npi) == 10
        assert organization.street and organization.city and organization.state and organization.postal_code
        assert sorted(organization.contacts.values_list("role", flat=True)) == ["billing", "legal", "primary"]
        assert tuple(sorted(organization.base_metrics.values_list("license_year", flat=True))) == demo.license_years()


def test_applications_cover_categories_vendors_and_every_coverage_route(system):
    applications = demo_applications()
    assert applications.count() >= 12
    assert set(applications.values_list("cpt_coverage", flat=True)) == set(Application.Coverage.values)
    assert len(set(applications.values_list("category", flat=True))) >= 7
    assert applications.filter(organization=system).exists()
    assert Vendor.objects.filter(name="Optum360", is_authorized_distributor=True).exists()
    fee_distributor = Vendor.objects.get(name="Cedarline Health Systems")
    assert fee_distributor.is_authorized_distributor and str(fee_distributor.processing_fee_per_user) == "1.00"
    for application in applications:
        application.full_clean()
        files = set(application.data_files.values_list("code", flat=True))
        if application.has_cpt:
            assert "cpt-standard" in files, application.name
        else:
            assert files == set()
            assert not application.user_counts.exists() and not application.licenses.exists()
    shared = applications.get(name="Enterprise revenue cycle")
    assert shared.users_at_other_entities.count() == 4
    assert shared.users_outside_us and shared.countries_outside_us


def test_user_counts_use_both_methods_and_explain_themselves(seeded):
    counts = UserCount.objects.filter(application__in=demo_applications())
    counted = counts.filter(method=UserCount.Method.COUNTED)
    proxy = counts.filter(method=UserCount.Method.PROXY)
    assert counted.count() >= 20 and proxy.count() >= 8
    for count in counted:
        count.full_clean()
        assert count.users == count.direct_users + count.program_users + count.output_users > 0
    for count in proxy:
        count.full_clean()
        metrics = BaseMetrics.objects.get(organization=count.application.organization, license_year=count.license_year)
        assert count.base_metric == "physicians"
        assert count.metric_value == metrics.physicians
        assert count.factor == 4
        assert count.users == math.ceil(metrics.physicians * 4)
    # Retired in the middle of the year before last: counted for the years it was in service.
    first, second, *_ = demo.license_years()
    retired = demo_applications().get(name="Legacy lab interface engine")
    assert sorted(retired.user_counts.values_list("license_year", flat=True)) == [first, second]


def test_licenses_reach_every_status_across_the_four_license_years(seeded):
    licenses = License.objects.filter(application__in=demo_applications())
    assert set(licenses.values_list("status", flat=True)) == set(License.Status.values)
    assert set(licenses.values_list("license_year", flat=True)) == set(demo.license_years())
    assert not licenses.filter(
        status=License.Status.EXPIRED, license_year__gte=standing.current_license_year()
    ).exists()
    for license in licenses.select_related("application", "renewal_of"):
        license.full_clean()
        first_year = license.application.licenses.order_by("license_year").first().license_year
        if license.license_year == first_year:
            assert license.renewal_of is None
        else:
            assert license.renewal_of.application_id == license.application_id
            assert license.renewal_of.license_year == license.license_year - 1
    active = licenses.filter(status=License.Status.ACTIVE)
    assert active.count() >= 4
    assert all(license.agreement_number and license.licensed_users for license in active)
    assert licenses.get(status=License.Status.NOT_REQUIRED).not_required_reason


def test_officer_and_auditor_have_memberships_groups_and_working_logins(seeded, system, client):
    users = get_user_model().objects
    admin, officer, auditor = (users.get(username=login.username) for login in demo.DEMO_LOGINS)
    assert admin.is_superuser and admin.is_staff
    assert Membership.objects.get(user=officer).organization == system
    assert Membership.objects.get(user=officer).role == Membership.Role.OFFICER
    assert Membership.objects.get(user=auditor).role == Membership.Role.AUDITOR
    assert list(officer.groups.values_list("name", flat=True)) == [roles.OFFICER_GROUP]
    assert list(auditor.groups.values_list("name", flat=True)) == [roles.AUDITOR_GROUP]
    assert officer.is_staff and auditor.is_staff and not officer.is_superuser
    # The officer's membership of the system covers its four affiliates.
    assert access.organizations(officer, access.CHANGE).count() == 5
    assert access.organizations(auditor, access.CHANGE).count() == 0
    for login in demo.DEMO_LOGINS:
        assert f"username: {login.username}" in seeded and f"password: {login.password}" in seeded
        # axes (sign-in throttling) needs the request it would throttle.
        assert client.login(request=HttpRequest(), username=login.username, password=login.password), login.username
        client.logout()


def test_every_demo_object_has_history_naming_the_demo_admin(seeded):
    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    checked = 0
    for model in DOMAIN_MODELS:
        for obj in model.objects.all():
            if model is Vendor and obj.name not in demo.VENDORS:
                continue
            rows = obj.history.all()
            assert rows.exists(), obj
            assert all(row.history_user_id == admin.pk for row in rows), obj
            assert all(row.history_change_reason == demo.DEMO_REASON for row in rows), obj
            checked += 1
    assert checked > 150
    # .set() on data files writes the links into history too.
    inpatient = demo_applications().get(name="Cedarline Inpatient EHR")
    latest = inpatient.history.first()
    codes = sorted(latest.data_files.values_list("datafile__code", flat=True))
    assert codes == ["ama-hcpcs", "ama-icd10", "cpt-standard"]


def test_running_twice_creates_nothing_and_still_prints_the_logins(seeded):
    before = table_sizes()
    again = seed()
    assert table_sizes() == before
    assert "already exists" in again
    for login in demo.DEMO_LOGINS:
        assert f"password: {login.password}" in again


def scale_objects(slug_prefix="scale-"):
    organizations = Organization.objects.filter(slug__startswith=slug_prefix)
    return {
        Organization: organizations,
        BaseMetrics: BaseMetrics.objects.filter(organization__in=organizations),
        Application: Application.objects.filter(organization__in=organizations),
        UserCount: UserCount.objects.filter(application__organization__in=organizations),
        License: License.objects.filter(application__organization__in=organizations),
    }


def test_scale_creates_organizations_with_applications_counts_licenses_and_one_history_row_each(seeded):
    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    output = seed("--scale", "20")
    assert "Created 20 benchmark organizations (scale-0000001 to scale-0000020)" in output
    objects = scale_objects()
    sizes = {model: queryset.count() for model, queryset in objects.items()}
    # Two of the 20 (numbers 10 and 20) have a no-CPT scheduling system: no count, no license.
    assert sizes == {Organization: 20, BaseMetrics: 40, Application: 60, UserCount: 116, License: 116}
    for model, queryset in objects.items():
        history = model.history.filter(id__in=queryset.values("pk"))
        assert history.count() == sizes[model], model
        recorded = history.filter(history_type="+", history_user=admin, history_change_reason=demo.SCALE_REASON)
        assert recorded.count() == sizes[model], model
        for obj in queryset:
            obj.full_clean()  # valid by construction
    licenses = objects[License]
    assert set(licenses.values_list("status", flat=True)) == {
        "expired",
        "covered_by_vendor",
        "active",
        "submitted",
        "drafted",
        "needed",
    }
    last_year, this_year = demo.scale_years()
    renewals = licenses.filter(license_year=this_year).select_related("renewal_of")
    assert renewals.count() == sizes[License] // 2
    for renewal in renewals:
        assert (renewal.renewal_of.application_id, renewal.renewal_of.license_year) == (
            renewal.application_id,
            last_year,
        )


def test_scale_writes_the_data_file_links_into_history(seeded):
    seed("--scale", "20")
    applications = scale_objects()[Application]
    links = Application.data_files.through.objects.filter(application__in=applications)
    link_history = LinkHistory.objects.filter(application_id__in=applications.values("pk"))
    assert links.count() == 20 * (1 + 2) + 18 * 3  # EHR 1 file, billing 2; 18 encoders 3 each, scheduling none
    assert link_history.count() == links.count()
    assert set(link_history.values_list("id", "application_id", "datafile_id")) == set(
        links.values_list("id", "application_id", "datafile_id")
    )
    for application in applications:
        snapshot = application.history.get()
        assert set(snapshot.data_files.values_list("datafile_id", flat=True)) == set(
            application.data_files.values_list("pk", flat=True)
        )


def test_scale_runs_can_be_repeated_and_continue_the_numbering(seeded):
    seed("--scale", "3")
    output = seed("--scale", "2")
    assert "(scale-0000004 to scale-0000005)" in output
    slugs = sorted(Organization.objects.filter(slug__startswith="scale-").values_list("slug", flat=True))
    assert slugs == [f"scale-{number:07d}" for number in range(1, 6)]
    assert Organization.objects.filter(slug__startswith="riverbend-").count() == 5


def test_scale_rejects_a_negative_number():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="zero or more"):
        seed("--scale", "-1")


# The demo's rosters, row by row: application: (source, (a), (b), (c), excluded as not users).
DEMO_ROSTER_FIGURES = {
    "Enterprise analytics warehouse": ("Keystone report subscription list", 2, 2, 4, 1),
    "Bluestem Ambulatory EHR": ("Bluestem user administration export", 5, 2, 1, 1),
    "Coding encoder": ("Optum360 encoder user list", 4, 0, 1, 1),
}


def test_rosters_are_imported_through_the_roster_import_and_derive_their_counts(seeded):
    year = standing.current_license_year()
    rosters = Roster.objects.select_related("application", "data_import").order_by("application__name")
    assert sorted(roster.application.name for roster in rosters) == sorted(DEMO_ROSTER_FIGURES)
    for roster in rosters:
        source, direct, program, output, excluded = DEMO_ROSTER_FIGURES[roster.application.name]
        # Each came in as a confirmed import of its file, previewed first, the file's SHA-256 kept.
        assert roster.data_import.outcome == DataImport.Outcome.CONFIRMED
        assert roster.data_import.preview_of.outcome == DataImport.Outcome.PREVIEWED
        content = (demo.DEMO_ROSTERS_DIR / roster.file_name).read_bytes()
        assert roster.file_sha256 == hashlib.sha256(content).hexdigest() == roster.data_import.file_sha256
        assert (roster.license_year, roster.source) == (year, source)
        count = UserCount.objects.get(application=roster.application, license_year=year)
        assert count.roster_id == roster.pk and count.method == UserCount.Method.COUNTED
        assert (count.direct_users, count.program_users, count.output_users, count.excluded_users) == (
            direct,
            program,
            output,
            excluded,
        )
        users = direct + program + output
        assert counting.explain(count) == (
            f"Roster of {roster.taken_on:%Y-%m-%d} from {source}: {direct} (a) + {program} (b) + {output} (c) = "
            f"{users} users; {excluded} excluded as not users"
        )
        # One line more than people who count: each file lists one person twice (counted once).
        people = roster.lines.values("person").distinct().count()
        assert roster.lines.count() == people + 1 == users + excluded + 1
        mapped = dict(RoleMapping.objects.filter(application=roster.application).values_list("role", "kind"))
        assert set(roster.lines.values_list("role", flat=True)) == set(mapped)
        assert "none" in mapped.values()
        assert all(
            explanation for explanation in roster.application.role_mappings.values_list("explanation", flat=True)
        )


def test_the_reconciliation_of_the_system_has_a_finding_of_each_kind_but_the_directory(seeded, system, client):
    admin = get_user_model().objects.get(username=demo.ADMIN_LOGIN.username)
    reconciliation = reconciliation_selectors.reconcile(system, standing.current_license_year(), user=admin)
    found = reconciliation_selectors.finding_keys(reconciliation)
    assert found == {
        FindingKind.OTHER_ENTITY: ["rb1005", "rb2001", "rb2004", "rb3003"],
        FindingKind.OUTSIDE_US: ["rb1004"],
        FindingKind.LEFT: [],
        FindingKind.SHARED_ACCOUNT: ["finance-shared", "frontdesk-2"],
    }
    totals = reconciliation_selectors.totals(reconciliation)
    # 22 people on the three rosters (Elena Brooks and Owen Fairbanks on two), 19 users: 3 service accounts.
    assert (totals.people, totals.users) == (22, 19)
    officer = get_user_model().objects.get(username=demo.OFFICER_LOGIN.username)
    client.force_login(officer)
    page = client.get(reverse("admin:licensing_organization_reconcile", args=[system.pk])).content.decode()
    assert "22 distinct people" in page and "Owen Fairbanks" in page


def test_the_physician_groups_draft_waits_for_the_plausibility_warning_to_be_acknowledged(seeded):
    year = standing.current_license_year()
    draft = Filing.objects.get(organization__slug="riverbend-physician-partners", license_year=year)
    assert draft.status == "draft"
    (problem,) = filings.submission_problems(draft)
    assert problem.startswith(
        "Bluestem Ambulatory EHR: 8 users counted; the User Proxy Model from 72 physicians gives about 288 (estimate)"
    )
    officer = get_user_model().objects.get(username=demo.OFFICER_LOGIN.username)
    with pytest.raises(ValidationError):
        services.filing_submit(filing=draft, actor=officer, reason="Sent")
    (warning,) = filings.plausibility_warnings(draft)
    services.count_acknowledge_plausibility(
        count=warning.count, actor=officer, reason="Most of the group's physicians chart in the hospital's EHR"
    )
    assert filings.submission_problems(draft) == []
    assert services.filing_submit(filing=draft, actor=officer, reason="Sent").status == "submitted"
