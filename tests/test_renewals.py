"""Renewal: next year's licenses and user counts opened as new rows, through licensing.services.renew and the
"Renew for <next year>" admin action on licenses and organizations."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing import services, standing
from licensing.models import License, UserCount
from tests.admin_forms import post_admin_form
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    ProxyCountFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
)

pytestmark = pytest.mark.django_db

# The admin action renews into next year; the service tests use the same years so both read alike.
NEXT = standing.current_license_year() + 1
THIS = NEXT - 1


def snapshot(records) -> list[dict]:
    """Every stored column of `records`, and of each of their history rows, for before/after comparisons."""
    rows = []
    for record in records:
        fresh = type(record).objects.get(pk=record.pk)
        rows.append({field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields})
        history = record.history.model
        for row in history.objects.filter(id=record.pk).order_by("history_id"):
            rows.append({field.attname: getattr(row, field.attname) for field in history._meta.concrete_fields})
    return rows


def renewable(organization, *, name="Billing", users=12, evidence="Roster of 2 February"):
    """An application with this year's active license and counted user count."""
    application = ApplicationFactory(organization=organization, name=name)
    license = LicenseFactory(application=application, license_year=THIS, licensed_users=30, notes="Signed in March")
    count = UserCountFactory(
        application=application,
        license_year=THIS,
        direct_users=users,
        program_users=3,
        output_users=1,
        counted_on=datetime.date(THIS, 2, 2),
        counted_by="Pat Doe",
        evidence=evidence,
    )
    return application, license, count


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


def test_renewal_opens_next_years_license_and_count_as_new_rows(org_a, officer):
    application, old_license, old_count = renewable(org_a)

    result = services.renew(licenses=[old_license], to_year=NEXT, actor=officer, reason="Annual renewal")

    license = License.objects.get(application=application, license_year=NEXT)
    assert (license.status, license.route, license.distributor, license.licensed_users) == (
        "needed",
        "direct",
        None,
        30,
    )
    assert license.renewal_of == old_license
    assert (license.agreement_number, license.notes) == ("", ""), "the new year needs its own agreement"
    count = UserCount.objects.get(application=application, license_year=NEXT)
    assert (count.method, count.direct_users, count.program_users, count.output_users) == ("counted", 12, 3, 1)
    assert (count.counted_on, count.counted_by) == (datetime.date(THIS, 2, 2), "Pat Doe")
    assert count.needs_review is True
    assert count.evidence.startswith(f"Copied from the {THIS} user count by the renewal for {NEXT}")
    assert count.evidence.endswith(f"Evidence of the {THIS} count: Roster of 2 February")
    assert (result.licenses, result.counts, result.skipped) == ([license], [count], [])
    assert result.summary() == (f"Renewed 1 application for {NEXT}: 1 license (needed) and 1 user count to review.")


def test_renewal_leaves_the_old_year_and_its_history_untouched(org_a, officer):
    _, old_license, old_count = renewable(org_a)
    before = snapshot([old_license, old_count])

    services.renew(licenses=[old_license], to_year=NEXT, actor=officer, reason="Annual renewal")

    assert snapshot([old_license, old_count]) == before
    assert not UserCount.objects.get(pk=old_count.pk).needs_review


def test_history_rows_carry_the_actor_and_the_reason(org_a, officer):
    _, old_license, _ = renewable(org_a)
    result = services.renew(licenses=[old_license], to_year=NEXT, actor=officer, reason="  Annual renewal  ")
    for record in [*result.licenses, *result.counts]:
        (row,) = record.history.all()
        assert (row.history_type, row.history_user, row.history_change_reason) == ("+", officer, "Annual renewal")
        assert row.organization_id == org_a.pk
    assert result.counts[0].history.get().needs_review is True


def test_without_a_reason_the_history_names_the_years(org_a, officer):
    _, old_license, _ = renewable(org_a)
    result = services.renew(licenses=[old_license], to_year=NEXT, actor=officer)
    assert result.reason == f"Renewal for {NEXT} from {THIS}"
    assert {record.history.get().history_change_reason for record in [*result.licenses, *result.counts]} == {
        f"Renewal for {NEXT} from {THIS}"
    }


def test_running_it_twice_creates_nothing_more_and_says_so(org_a, officer):
    _, old_license, _ = renewable(org_a)
    services.renew(organizations=[org_a], to_year=NEXT, actor=officer, reason="Annual renewal")
    licenses, counts = snapshot(License.objects.all()), snapshot(UserCount.objects.all())

    again = services.renew(organizations=[org_a], to_year=NEXT, actor=officer, reason="Annual renewal")

    assert (again.licenses, again.counts) == ([], [])
    assert snapshot(License.objects.all()) == licenses and snapshot(UserCount.objects.all()) == counts
    assert again.summary() == f"Nothing to renew for {NEXT}. 1 already renewed, skipped."
    assert [(line.license_note, line.count_note) for line in again.lines] == [("already there", "already there")]


def test_a_half_renewed_application_gets_only_what_it_lacks(org_a, officer):
    application, old_license, _ = renewable(org_a)
    kept = UserCountFactory(application=application, license_year=NEXT, direct_users=99, evidence="Counted anew")
    before = snapshot([kept])

    result = services.renew(licenses=[old_license], to_year=NEXT, actor=officer, reason="Annual renewal")

    assert len(result.licenses) == 1 and result.counts == []
    assert snapshot([kept]) == before
    assert result.summary() == f"Renewed 1 application for {NEXT}: 1 license (needed)."


def test_an_organization_renews_its_applications_in_service_only(org_a, officer):
    in_use, _, _ = renewable(org_a, name="In use")
    retired, _, _ = renewable(org_a, name="Retired")
    retired.in_service_to = datetime.date(THIS, 6, 30)
    services.record_save(retired, actor=None, reason="Retired")
    later = ApplicationFactory(organization=org_a, name="Later", in_service_from=datetime.date(NEXT + 1, 1, 1))
    no_cpt = ApplicationFactory(organization=org_a, name="No CPT", cpt_coverage="no_cpt", data_files=[])
    UserCountFactory(application=no_cpt, license_year=THIS)
    affiliate = OrganizationFactory(parent=org_a, name="Affiliate")
    affiliates_app, _, _ = renewable(affiliate, name="Affiliate system")

    result = services.renew(organizations=[org_a], to_year=NEXT, actor=officer, reason="Annual renewal")

    assert [license.application for license in result.licenses] == [in_use]
    assert [count.application for count in result.counts] == [in_use]
    assert {line.application.name: line.skipped for line in result.skipped} == {
        "Retired": f"not in service in {NEXT}",
        "Later": f"not in service in {NEXT}",
        "No CPT": "with no CPT content",
    }
    assert not License.objects.filter(application__in=[retired, later, no_cpt, affiliates_app], license_year=NEXT)
    assert not UserCount.objects.filter(application__in=[retired, later, no_cpt, affiliates_app], license_year=NEXT)
    assert result.summary() == (
        f"Renewed 1 application for {NEXT}: 1 license (needed) and 1 user count to review. "
        f"2 not in service in {NEXT}, 1 with no CPT content, skipped."
    )


def test_it_copies_from_the_latest_earlier_year(org_a, officer):
    application = ApplicationFactory(organization=org_a)
    LicenseFactory(application=application, license_year=THIS - 2, licensed_users=5)
    latest = LicenseFactory(application=application, license_year=THIS - 1, licensed_users=8)
    UserCountFactory(application=application, license_year=THIS - 2, direct_users=5)
    UserCountFactory(application=application, license_year=THIS - 1, direct_users=8, evidence="")

    result = services.renew(organizations=[org_a], to_year=NEXT, actor=officer)

    (license,) = result.licenses
    assert (license.renewal_of, license.licensed_users) == (latest, 8)
    (count,) = result.counts
    assert count.direct_users == 8
    assert count.evidence == (
        f"Copied from the {THIS - 1} user count by the renewal for {NEXT}: "
        "check the figures, then untick 'needs review' and save."
    )
    assert result.reason == f"Renewal for {NEXT} from {THIS - 1}"


def test_a_proxy_count_is_copied_with_its_inputs(org_a, officer):
    application = ApplicationFactory(organization=org_a, category="ambulatory_ehr")
    ProxyCountFactory(
        application=application, license_year=THIS, metric_value=Decimal("12.5"), metric_source="HR, January"
    )
    (count,) = services.renew(organizations=[org_a], to_year=NEXT, actor=officer).counts
    count.refresh_from_db()
    assert (count.method, count.base_metric, count.metric_value, count.factor, count.metric_source) == (
        "proxy",
        "physicians",
        Decimal("12.5"),
        Decimal("4.000"),
        "HR, January",
    )
    assert (count.users, count.direct_users, count.needs_review) == (50, None, True)


def test_a_vendor_covered_license_stays_covered_by_vendor(org_a, officer):
    vendor = VendorFactory()
    covered = ApplicationFactory(organization=org_a, name="Covered", cpt_coverage="vendor", vendor=vendor)
    LicenseFactory(
        application=covered,
        license_year=THIS,
        status="covered_by_vendor",
        route="vendor",
        distributor=vendor,
        licensed_users=None,
        agreement_number="",
    )
    renewable(org_a, name="Direct")
    result = services.renew(organizations=[org_a], to_year=NEXT, actor=officer)
    assert {(license.application.name, license.status, license.distributor) for license in result.licenses} == {
        ("Covered", "covered_by_vendor", vendor),
        ("Direct", "needed", None),
    }
    assert result.summary().startswith(
        f"Renewed 2 applications for {NEXT}: 2 licenses (1 covered by vendor, 1 needed) and 1 user count to review."
    )


def test_what_has_nothing_earlier_is_named(org_a, officer):
    ApplicationFactory(organization=org_a, name="New system")
    licensed_only = ApplicationFactory(organization=org_a, name="Licensed only")
    LicenseFactory(application=licensed_only, license_year=THIS)

    result = services.renew(organizations=[org_a], to_year=NEXT, actor=officer)

    assert [line.skipped for line in result.skipped] == ["with nothing earlier to copy"]
    assert result.summary() == (
        f"Renewed 1 application for {NEXT}: 1 license (needed). 1 with nothing earlier to copy, skipped. "
        f"1 application had no earlier user count to copy: add its {NEXT} user count by hand."
    )


def test_a_copy_the_rules_refuse_is_named_and_the_rest_is_written(org_a, officer):
    # A distributor who has since lost its AMA authorization cannot carry a license into the new year.
    distributor = VendorFactory(name="Former distributor")
    _, old, _ = renewable(org_a, name="Through a distributor")
    old.route, old.distributor = "distributor", distributor
    services.record_save(old, actor=None, reason="Test data")
    uncounted = ApplicationFactory(organization=org_a, name="Uncounted")
    LicenseFactory(application=uncounted, license_year=THIS, route="distributor", distributor=distributor)
    distributor.is_authorized_distributor = False
    services.record_save(distributor, actor=None, reason="Authorization ended")

    result = services.renew(organizations=[org_a], to_year=NEXT, actor=officer)

    assert result.licenses == [] and len(result.counts) == 1
    assert [problem.split(":")[0] for problem in result.problems] == ["Through a distributor", "Uncounted"]
    assert result.problems[0].startswith(
        f"Through a distributor: the {NEXT} license was not copied: Former distributor is not recorded as an "
        "AMA-authorized distributor"
    )
    assert result.summary() == (
        f"Renewed 1 application for {NEXT}: 1 user count to review. 1 with a copy the rules refuse, skipped."
    )
    assert not License.objects.filter(license_year=NEXT).exists()


def test_an_officer_cannot_renew_another_organizations_licenses_even_with_forged_ids(org_a, org_b, officer):
    _, own, _ = renewable(org_a)
    _, theirs, _ = renewable(org_b)
    before = snapshot(License.objects.all()) + snapshot(UserCount.objects.all())

    for licenses in ([theirs.pk], [own.pk, theirs.pk], [theirs], [own.pk, 999_999]):
        with pytest.raises(PermissionDenied, match="belong to an organization you may not change. Nothing was renewed"):
            services.renew(licenses=licenses, to_year=NEXT, actor=officer, reason="Forged")
    with pytest.raises(PermissionDenied):
        services.renew(organizations=[org_b.pk], to_year=NEXT, actor=officer, reason="Forged")
    with pytest.raises(PermissionDenied):
        services.renewal_plan(organizations=[org_a.pk, org_b.pk], to_year=NEXT, actor=officer)

    assert snapshot(License.objects.all()) + snapshot(UserCount.objects.all()) == before


def test_an_auditor_cannot_renew_and_an_officer_of_the_parent_can_renew_an_affiliate(org_a, auditor, officer):
    affiliate = OrganizationFactory(parent=org_a)
    _, license, _ = renewable(affiliate)
    with pytest.raises(PermissionDenied):
        services.renew(licenses=[license], to_year=NEXT, actor=auditor, reason="Not mine to change")
    assert not License.objects.filter(license_year=NEXT).exists()
    assert len(services.renew(organizations=[affiliate], to_year=NEXT, actor=officer).licenses) == 1


def test_bad_selections_and_years_are_refused_in_words(org_a, officer):
    _, license, _ = renewable(org_a)
    with pytest.raises(ValidationError, match="No licenses were selected"):
        services.renew(licenses=[], to_year=NEXT, actor=officer)
    with pytest.raises(ValidationError, match="Choose the licenses or organizations to renew"):
        services.renew(to_year=NEXT, actor=officer)
    with pytest.raises(ValidationError, match="License years end at 2100"):
        services.renew(licenses=[license], to_year=2101, actor=officer)
    assert License.objects.count() == 1


def test_the_plan_writes_nothing(org_a, officer):
    _, license, _ = renewable(org_a)
    plan = services.renewal_plan(licenses=[license], to_year=NEXT, actor=officer)
    assert (len(plan.licenses), len(plan.counts), plan.written) == (1, 1, False)
    assert plan.summary() == f"Will renew 1 application for {NEXT}: 1 license (needed) and 1 user count to review."
    assert not License.objects.filter(license_year=NEXT).exists()
    assert not UserCount.objects.filter(license_year=NEXT).exists()


def _queries_to_renew(officer, organization, applications: int, *, by: str) -> int:
    selected = [renewable(organization, name=f"System {i}")[1] for i in range(applications)]
    selection = {"licenses": selected} if by == "licenses" else {"organizations": [organization]}
    with CaptureQueriesContext(connection) as queries:
        result = services.renew(**selection, to_year=NEXT, actor=officer, reason="Annual renewal")
    assert (len(result.licenses), len(result.counts)) == (applications, applications)
    return len(queries)


@pytest.mark.parametrize("by", ["licenses", "organizations"])
def test_the_number_of_queries_does_not_grow_with_the_applications(officer, by):
    parent = officer.memberships.get().organization
    few = _queries_to_renew(officer, OrganizationFactory(parent=parent), 2, by=by)
    many = _queries_to_renew(officer, OrganizationFactory(parent=parent), 12, by=by)
    assert few == many, f"{few} queries for 2 applications, {many} for 12: a query per application crept in"
    assert many <= 30


# ---------------------------------------------------------------------------------------------
# The admin action
# ---------------------------------------------------------------------------------------------

LICENSES = "/admin/licensing/license/"
ORGANIZATIONS = "/admin/licensing/organization/"


def choose_action(client, changelist: str, ids, *, follow=False):
    """Post the changelist's own action form: the chosen action, the ticked rows."""
    data = {"action": "renew_for_next_year", "_selected_action": ids, "index": "0", "select_across": "0"}
    return client.post(changelist, data, follow=follow)


def confirm(client, changelist: str, ids, reason: str):
    return client.post(
        changelist,
        {"action": "renew_for_next_year", "_selected_action": ids, "post": "yes", "reason": reason},
        follow=True,
    )


def offered_actions(client, changelist: str) -> dict:
    page = client.get(changelist)
    form = page.context["action_form"] if page.context and "action_form" in page.context else None
    return dict(form.fields["action"].choices) if form else {}


def test_an_officer_renews_licenses_after_confirming_with_a_reason(officer_client, org_a, officer):
    application, license, _ = renewable(org_a)
    assert offered_actions(officer_client, LICENSES)["renew_for_next_year"] == f"Renew for {NEXT}"

    page = choose_action(officer_client, LICENSES, [license.pk])

    assert page.status_code == 200
    assert "admin/licensing/renew_confirmation.html" in [template.name for template in page.templates]
    text = page.content.decode()
    assert f"Will renew 1 application for {NEXT}: 1 license (needed) and 1 user count to review." in text
    assert f"needed, from the {THIS} license: Direct (AMA), 30 users" in text
    assert page.context["form"]["reason"].value() == f"Renewal for {NEXT} from {THIS}"
    assert not License.objects.filter(license_year=NEXT).exists(), "the confirmation page writes nothing"

    done = confirm(officer_client, LICENSES, [license.pk], "Annual renewal for the new release")

    assert done.redirect_chain[-1][0] == LICENSES
    assert messages_of(done) == [f"Renewed 1 application for {NEXT}: 1 license (needed) and 1 user count to review."]
    renewal = License.objects.get(application=application, license_year=NEXT)
    count = UserCount.objects.get(application=application, license_year=NEXT)
    for record in (renewal, count):
        row = record.history.get()
        assert (row.history_user, row.history_change_reason) == (officer, "Annual renewal for the new release")


def test_an_officer_renews_an_organization_and_a_second_run_says_it_is_done(officer_client, org_a):
    renewable(org_a, name="One")
    renewable(org_a, name="Two")
    _, _, _ = renewable(OrganizationFactory(parent=org_a), name="Affiliate's")
    page = choose_action(officer_client, ORGANIZATIONS, [org_a.pk])
    assert "Only the selected organizations' own applications are renewed" in page.content.decode()

    done = confirm(officer_client, ORGANIZATIONS, [org_a.pk], "Annual renewal")

    assert messages_of(done) == [f"Renewed 2 applications for {NEXT}: 2 licenses (needed) and 2 user counts to review."]
    assert License.objects.filter(license_year=NEXT).count() == 2
    again = choose_action(officer_client, ORGANIZATIONS, [org_a.pk], follow=True)
    assert "admin/licensing/renew_confirmation.html" not in [template.name for template in again.templates]
    assert messages_of(again) == [f"Nothing to renew for {NEXT}. 2 already renewed, skipped."]
    assert License.objects.filter(license_year=NEXT).count() == 2


def test_the_auditor_is_not_offered_the_action_and_cannot_post_it(auditor_client, org_a):
    _, license, _ = renewable(org_a)
    assert "renew_for_next_year" not in offered_actions(auditor_client, LICENSES)
    assert "renew_for_next_year" not in offered_actions(auditor_client, ORGANIZATIONS)
    for changelist, ids in ((LICENSES, [license.pk]), (ORGANIZATIONS, [org_a.pk])):
        response = confirm(auditor_client, changelist, ids, "Trying anyway")
        assert response.status_code in (200, 403)
    assert not License.objects.filter(license_year=NEXT).exists()
    assert not UserCount.objects.filter(license_year=NEXT).exists()


def test_forged_ids_of_another_organization_are_refused_and_nothing_is_written(officer_client, org_a, org_b):
    _, own, _ = renewable(org_a)
    _, theirs, _ = renewable(org_b)
    for changelist, ids in (
        (LICENSES, [theirs.pk]),
        (LICENSES, [own.pk, theirs.pk]),
        (ORGANIZATIONS, [org_b.pk]),
        (ORGANIZATIONS, [org_a.pk, org_b.pk]),
    ):
        response = confirm(officer_client, changelist, ids, "Forged")
        assert response.status_code == 200
        (message,) = messages_of(response)
        assert "not found, or belong to an organization you do not have access to. Nothing was renewed." in message
    assert not License.objects.filter(license_year=NEXT).exists()


def test_records_the_person_may_only_view_are_refused_by_name(client, org_a, org_b):
    person = UserFactory(username="officer-a-auditor-b")
    member(person, org_a, "officer")
    member(person, org_b, "auditor")
    client.force_login(person)
    _, own, _ = renewable(org_a)
    _, viewed, _ = renewable(org_b, name="Beta billing")

    response = confirm(client, LICENSES, [own.pk, viewed.pk], "Annual renewal")

    assert messages_of(response) == [
        f"You may only view 1 of the selected licenses (Beta billing {THIS}): deselect them and try again. "
        "Nothing was renewed."
    ]
    assert not License.objects.filter(license_year=NEXT).exists()


def test_an_empty_selection_or_reason_writes_nothing(officer_client, org_a):
    _, license, _ = renewable(org_a)
    nothing = choose_action(officer_client, LICENSES, [], follow=True)
    assert nothing.status_code == 200
    assert "Items must be selected in order to perform actions on them" in " ".join(messages_of(nothing))

    page = confirm(officer_client, LICENSES, [license.pk], "   ")

    assert "admin/licensing/renew_confirmation.html" in [template.name for template in page.templates]
    assert page.context["form"].errors["reason"] == [
        "Say why you are renewing, e.g. 'Annual renewal for the new CPT release'."
    ]
    assert not License.objects.filter(license_year=NEXT).exists()


def test_the_action_names_next_year_on_each_request(officer_client, org_a, officer):
    with time_machine.travel(datetime.datetime(2031, 1, 2, 12, tzinfo=datetime.UTC), tick=False):
        officer_client.force_login(officer)
        assert offered_actions(officer_client, ORGANIZATIONS)["renew_for_next_year"] == "Renew for 2032"
    assert offered_actions(officer_client, ORGANIZATIONS)["renew_for_next_year"] == f"Renew for {NEXT}"


def test_officers_find_the_counts_to_review_and_unticking_clears_the_mark(officer_client, org_a):
    _, license, _ = renewable(org_a)
    confirm(officer_client, LICENSES, [license.pk], "Annual renewal")
    count = UserCount.objects.get(license_year=NEXT)

    listed = officer_client.get("/admin/licensing/usercount/", {"needs_review__exact": "1"})
    assert [row.pk for row in listed.context["cl"].result_list] == [count.pk]
    assert "needs_review" in listed.context["cl"].list_display

    url = f"/admin/licensing/usercount/{count.pk}/change/"
    saved = post_admin_form(officer_client, url, {"needs_review": False, "change_reason": "Checked the roster"})
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    count.refresh_from_db()
    assert count.needs_review is False
    assert count.history.latest("history_id").history_change_reason == "Checked the roster"


def _queries_of_the_action(client, organization, applications: int) -> tuple[int, int]:
    ids = [renewable(organization, name=f"System {i}")[1].pk for i in range(applications)]
    with CaptureQueriesContext(connection) as asking:
        page = choose_action(client, LICENSES, ids)
    assert len(page.context["plan"].lines) == applications
    with CaptureQueriesContext(connection) as confirming:
        done = confirm(client, LICENSES, ids, "Annual renewal")
    assert messages_of(done)[0].startswith(f"Renewed {applications} applications")
    return len(asking), len(confirming)


def test_the_action_makes_as_many_queries_for_few_licenses_as_for_many(officer_client, org_a):
    few = _queries_of_the_action(officer_client, OrganizationFactory(parent=org_a), 2)
    many = _queries_of_the_action(officer_client, OrganizationFactory(parent=org_a), 8)
    assert few == many, f"confirmation and renewal took {few} queries for 2 licenses, {many} for 8"
