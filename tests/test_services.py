"""Writes that matter: renewals, status changes and memberships, each with an actor and a reason."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from licensing import roles, services
from licensing.models import License, Membership, Organization
from tests.admin_forms import post_admin_form
from tests.factories import ApplicationFactory, LicenseFactory, OrganizationFactory, UserFactory, VendorFactory

pytestmark = pytest.mark.django_db


def _snapshot(license: License) -> dict:
    return {field.attname: getattr(license, field.attname) for field in License._meta.concrete_fields}


# license_renew --------------------------------------------------------------------------------


def test_renewal_is_a_new_license_for_the_next_year():
    actor = UserFactory(username="renewer")
    old = LicenseFactory(license_year=2025, status="active", licensed_users=40, agreement_number="AMA-IU-77")
    renewal = services.license_renew(license=old, actor=actor, reason="Annual renewal for the 2026 release")
    assert renewal.pk != old.pk
    assert (renewal.application_id, renewal.license_year) == (old.application_id, 2026)
    assert renewal.renewal_of == old
    assert old.renewed_by == renewal
    assert renewal.status == "needed"
    assert (renewal.route, renewal.distributor, renewal.licensed_users) == ("direct", None, 40)
    assert renewal.agreement_number == ""  # a new year needs a new agreement
    assert License.objects.filter(application=old.application).count() == 2


def test_renewal_leaves_the_old_license_unchanged():
    old = LicenseFactory(license_year=2025, status="active", licensed_users=40)
    before = _snapshot(License.objects.get(pk=old.pk))
    history_rows = old.history.count()
    services.license_renew(license=old, actor=UserFactory(), reason="Renewal")
    assert _snapshot(License.objects.get(pk=old.pk)) == before
    assert old.history.count() == history_rows


def test_renewal_writes_history_with_actor_and_reason():
    actor = UserFactory(username="renewer")
    old = LicenseFactory(license_year=2025)
    renewal = services.license_renew(license=old, actor=actor, reason="Annual renewal for the 2026 release")
    records = list(renewal.history.all())
    assert len(records) == 1
    record = records[0]
    assert record.history_type == "+"
    assert record.history_user == actor
    assert record.history_change_reason == "Annual renewal for the 2026 release"
    assert record.license_year == 2026
    assert record.renewal_of_id == old.pk


def test_renewal_without_a_reason_records_a_default_one():
    old = LicenseFactory(license_year=2025)
    renewal = services.license_renew(license=old, actor=None)
    assert renewal.history.get().history_change_reason == "Renewal of the 2025 license"


def test_renewal_of_a_vendor_covered_license_stays_covered_by_vendor():
    distributor = VendorFactory()
    old = LicenseFactory(
        license_year=2025,
        status="covered_by_vendor",
        route="vendor",
        distributor=distributor,
        licensed_users=None,
        agreement_number="",
    )
    renewal = services.license_renew(license=old, actor=None)
    assert (renewal.status, renewal.route, renewal.distributor) == ("covered_by_vendor", "vendor", distributor)


@pytest.mark.parametrize("status", ["needed", "drafted", "submitted", "expired", "not_required"])
def test_renewal_of_any_other_status_starts_as_needed(status):
    reason = "Retired" if status == "not_required" else ""
    old = LicenseFactory(license_year=2024, status=status, not_required_reason=reason)
    assert services.license_renew(license=old, actor=None).status == "needed"


def test_renewing_twice_is_refused():
    old = LicenseFactory(license_year=2025)
    services.license_renew(license=old, actor=None)
    with pytest.raises(ValidationError) as caught:
        services.license_renew(license=old, actor=None)
    assert "This application already has a license for that year; renew or edit it instead." in caught.value.messages
    assert License.objects.filter(application=old.application, license_year=2026).count() == 1


def test_renewal_into_a_year_out_of_range_is_refused():
    old = LicenseFactory(license_year=2100)
    with pytest.raises(ValidationError) as caught:
        services.license_renew(license=old, actor=None)
    assert "license_year" in caught.value.message_dict
    assert not License.objects.filter(license_year=2101).exists()


# license_set_status ---------------------------------------------------------------------------


def test_set_status_records_actor_and_reason():
    actor = UserFactory()
    license = LicenseFactory(license_year=2026, status="needed", agreement_number="", licensed_users=None)
    services.license_set_status(license=license, status="drafted", actor=actor, reason="Form filled in")
    record = license.history.latest()
    assert (record.status, record.history_user, record.history_change_reason) == ("drafted", actor, "Form filled in")


def test_refused_status_change_writes_nothing():
    license = LicenseFactory(license_year=2026, status="needed", agreement_number="", licensed_users=None)
    rows = license.history.count()
    with pytest.raises(ValidationError):
        services.license_set_status(license=license, status="active", actor=None, reason="skip ahead")
    assert License.objects.get(pk=license.pk).status == "needed"
    assert license.history.count() == rows


# membership_grant -----------------------------------------------------------------------------


def _group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_role_groups_exist():
    names = Group.objects.filter(name__in=[roles.OFFICER_GROUP, roles.AUDITOR_GROUP]).values_list("name", flat=True)
    assert set(names) == {"Compliance officer", "Auditor"}


@pytest.mark.parametrize("role, group", [("officer", "Compliance officer"), ("auditor", "Auditor")])
def test_membership_grant_puts_the_person_in_the_role_group_and_lets_them_into_the_admin(role, group):
    actor = UserFactory(username="admin")
    person = UserFactory(is_staff=False)
    organization = OrganizationFactory()
    membership = services.membership_grant(user=person, organization=organization, role=role, actor=actor)
    assert (membership.user, membership.organization, membership.role) == (person, organization, role)
    person.refresh_from_db()
    assert person.is_staff is True
    assert _group_names(person) == {group}
    record = membership.history.latest()
    assert record.history_user == actor
    assert record.history_change_reason == f"Granted {membership.get_role_display()}"


def test_changing_the_role_moves_the_person_between_groups():
    person = UserFactory()
    organization = OrganizationFactory()
    services.membership_grant(user=person, organization=organization, role="officer", actor=None)
    assert _group_names(person) == {"Compliance officer"}
    services.membership_grant(
        user=person, organization=organization, role="auditor", actor=None, reason="Moved to audit"
    )
    assert _group_names(person) == {"Auditor"}
    memberships = Membership.objects.filter(user=person)
    assert [(m.organization_id, m.role) for m in memberships] == [(organization.pk, "auditor")]
    assert memberships.get().history.latest().history_change_reason == "Moved to audit"


def test_roles_at_two_organizations_give_both_groups():
    person = UserFactory()
    services.membership_grant(user=person, organization=OrganizationFactory(), role="officer", actor=None)
    services.membership_grant(user=person, organization=OrganizationFactory(), role="auditor", actor=None)
    assert _group_names(person) == {"Compliance officer", "Auditor"}


def test_membership_grant_keeps_other_groups():
    person = UserFactory()
    other = Group.objects.create(name="Newsletter")
    person.groups.add(other)
    services.membership_grant(user=person, organization=OrganizationFactory(), role="auditor", actor=None)
    assert _group_names(person) == {"Auditor", "Newsletter"}


def test_membership_grant_refuses_an_unknown_role():
    person = UserFactory(is_staff=False)
    with pytest.raises(ValidationError) as caught:
        services.membership_grant(user=person, organization=OrganizationFactory(), role="owner", actor=None)
    assert "role" in caught.value.message_dict
    person.refresh_from_db()
    assert (person.is_staff, _group_names(person), Membership.objects.filter(user=person).count()) == (False, set(), 0)


def test_renewal_through_a_distributor_carries_the_route_and_distributor():
    distributor = VendorFactory(processing_fee_per_user=Decimal("1.50"))
    old = LicenseFactory(license_year=2025, route="distributor", distributor=distributor, licensed_users=12)
    renewal = services.license_renew(license=old, actor=None)
    renewal.refresh_from_db()
    assert (renewal.route, renewal.distributor_id, renewal.licensed_users) == ("distributor", distributor.pk, 12)


def test_granting_the_same_role_again_writes_no_history(db):
    from licensing.models import Membership
    from tests.factories import OrganizationFactory, UserFactory, member

    person, organization = UserFactory(), OrganizationFactory()
    member(person, organization, "officer")
    member(person, organization, "officer")
    membership = Membership.objects.get(user=person, organization=organization)
    assert membership.history.count() == 1


# membership_revoke: access ends with the membership ---------------------------------------------


def _fresh(user):
    # Permission checks cache on the user object; a new request loads the person anew.
    return type(user).objects.get(pk=user.pk)


def test_revoking_the_last_membership_takes_away_the_groups_staff_and_add_vendor():
    person = UserFactory(is_staff=False)
    membership = services.membership_grant(user=person, organization=OrganizationFactory(), role="officer", actor=None)
    assert _fresh(person).has_perm("licensing.add_vendor")

    actor = UserFactory(username="admin", is_superuser=True)
    membership_id = membership.pk
    services.membership_revoke(membership=membership, actor=actor, reason="Left the compliance team")

    person = _fresh(person)
    assert (_group_names(person), person.is_staff) == (set(), False)
    assert not person.has_perm("licensing.add_vendor") and not person.has_perm("licensing.view_application")
    deleted = Membership.history.filter(id=membership_id).latest("history_id")
    assert (deleted.history_type, deleted.history_user, deleted.history_change_reason) == (
        "-",
        actor,
        "Left the compliance team",
    )


def test_revoking_one_of_two_memberships_keeps_the_other_role():
    person = UserFactory()
    officer = services.membership_grant(user=person, organization=OrganizationFactory(), role="officer", actor=None)
    services.membership_grant(user=person, organization=OrganizationFactory(), role="auditor", actor=None)
    services.membership_revoke(membership=officer, actor=None)
    person = _fresh(person)
    assert (_group_names(person), person.is_staff) == ({"Auditor"}, True)
    assert not person.has_perm("licensing.add_vendor") and person.has_perm("licensing.view_application")


def test_revoking_keeps_staff_for_people_something_else_lets_in():
    person = UserFactory()
    person.groups.add(Group.objects.create(name="Portal administrators"))
    membership = services.membership_grant(user=person, organization=OrganizationFactory(), role="auditor", actor=None)
    services.membership_revoke(membership=membership, actor=None)
    assert (_group_names(_fresh(person)), _fresh(person).is_staff) == ({"Portal administrators"}, True)


def test_the_admin_delete_of_a_membership_revokes_it(client):
    person = UserFactory(username="leaving-officer")
    membership = services.membership_grant(user=person, organization=OrganizationFactory(), role="officer", actor=None)
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.post(f"/admin/licensing/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    person = _fresh(person)
    assert (_group_names(person), person.is_staff, Membership.objects.filter(user=person).exists()) == (
        set(),
        False,
        False,
    )
    assert Membership.history.filter(id=membership.pk).latest("history_id").history_user_name == "root"


def test_moving_a_membership_to_another_person_in_the_admin_updates_both(client):
    first, second = UserFactory(username="first-officer"), UserFactory(username="second-officer", is_staff=False)
    organization = OrganizationFactory()
    membership = services.membership_grant(user=first, organization=organization, role="officer", actor=None)
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = post_admin_form(
        client, f"/admin/licensing/membership/{membership.pk}/change/", {"user": second.pk, "change_reason": "Handover"}
    )
    assert response.status_code == 302
    assert (_group_names(_fresh(first)), _fresh(first).is_staff) == (set(), False)
    assert (_group_names(_fresh(second)), _fresh(second).is_staff) == ({"Compliance officer"}, True)


# The audited write path ------------------------------------------------------------------------


def test_record_save_and_delete_need_a_reason():
    organization = OrganizationFactory.build()
    with pytest.raises(ValueError, match="needs a reason"):
        services.record_save(organization, actor=None, reason="  ")
    assert organization.pk is None
    saved = OrganizationFactory()
    with pytest.raises(ValueError, match="needs a reason"):
        services.record_delete(saved, actor=None, reason="")
    assert Organization.objects.filter(pk=saved.pk).exists()


def test_record_save_validates_and_writes_who_and_why():
    actor = UserFactory(username="clerk")
    organization = OrganizationFactory()
    organization.ein = "12-345"
    with pytest.raises(ValidationError):
        services.record_save(organization, actor=actor, reason="Typo")
    organization.ein = "12-3456789"
    services.record_save(organization, actor=actor, reason="EIN corrected")
    row = organization.history.latest("history_id")
    assert (row.ein, row.history_user_name, row.history_change_reason) == ("123456789", "clerk", "EIN corrected")


def test_license_status_changes_in_the_admin_go_through_the_workflow_service(monkeypatch, officer_client, org_a):
    calls = []
    real = services.license_set_status

    def spy(**kwargs):
        calls.append((kwargs["status"], kwargs["reason"]))
        return real(**kwargs)

    monkeypatch.setattr(services, "license_set_status", spy)
    license = LicenseFactory(
        application=ApplicationFactory(organization=org_a),
        license_year=2026,
        status="needed",
        licensed_users=None,
        agreement_number="",
    )
    url = f"/admin/licensing/license/{license.pk}/change/"
    response = post_admin_form(officer_client, url, {"status": "drafted", "change_reason": "Form filled in"})
    assert response.status_code == 302
    # An edit that leaves the status alone is a plain audited save.
    response = post_admin_form(officer_client, url, {"notes": "Signed copy on file", "change_reason": "Note"})
    assert response.status_code == 302
    # And the same through the inline rows of the application page.
    app_url = f"/admin/licensing/application/{license.application_id}/change/"
    response = post_admin_form(
        officer_client, app_url, {"licenses-0-status": "submitted", "change_reason": "Sent to the AMA"}
    )
    assert response.status_code == 302, response.context and response.context.get("errors")
    assert calls == [("drafted", "Form filled in"), ("submitted", "Sent to the AMA")]
    license.refresh_from_db()
    assert license.status == "submitted"


def test_deleting_an_organization_revokes_its_memberships_and_gives_every_cascaded_row_the_reason(client):
    from licensing.models import Contact

    organization = OrganizationFactory(name="Entered By Mistake Clinic")
    person = UserFactory(username="mistaken-officer", is_staff=False)
    services.membership_grant(user=person, organization=organization, role="officer", actor=None)
    contact = services.record_save(Contact(organization=organization, role="primary", name="Pat Doe"), actor=None,
                                   reason="Typed in")  # fmt: skip
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.post(f"/admin/licensing/organization/{organization.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    person = _fresh(person)
    assert (_group_names(person), person.is_staff, person.has_perm("licensing.add_vendor")) == (set(), False, False)
    gone = Contact.history.filter(id=contact.pk).latest("history_id")
    assert (gone.history_type, gone.history_user_name, gone.history_change_reason) == (
        "-",
        "root",
        "Deleted in the admin",
    )
    assert Membership.history.filter(history_type="-", history_change_reason="Deleted in the admin").exists()
