"""Ownership is declared once, on the model; scoping, roles, the audit trail and the system check derive from it.

A scratch model here stands in for the next organization-owned model a developer adds (evidence files,
rosters ...): the check refuses it until it declares its owner, and once declared it is scoped and given
role permissions without touching any list.
"""

import pytest
from django.apps import apps as global_apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import models
from django.db.models.deletion import Collector
from django.test.utils import isolate_apps

from licensing import access, checks, ownership, roles
from licensing.audit import trail
from licensing.models import Application, ChainHead, License, Membership, Organization, UserCount, Vendor
from tests.factories import ApplicationFactory, UserCountFactory, UserFactory, member


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_project_passes_its_own_ownership_check():
    assert checks.check_ownership() == []


def test_every_model_that_reaches_an_organization_declares_its_owner():
    for model in global_apps.get_models():
        if checks._derived(model):
            continue
        if checks.path_to_organization(model) is not None:
            assert ownership.declaration(model) is not None, model


def test_declared_paths():
    assert ownership.owned_by(Organization).path == ""
    assert ownership.owned_by(Application).path == "organization"
    assert ownership.owned_by(UserCount).path == "application__organization"
    assert ownership.owned_by(License).reason_required is True
    assert ownership.owned_by(Application).reason_required is False
    assert isinstance(ownership.declaration(Vendor), ownership.SharedReference)
    assert ownership.declaration(ChainHead) is None


@isolate_apps("licensing")
def test_a_model_reaching_an_organization_without_a_declaration_fails_the_check():
    class Evidence(models.Model):
        count = models.ForeignKey(UserCount, on_delete=models.CASCADE)

        class Meta:
            app_label = "licensing"

    problems = checks.check_model(Evidence)
    assert ids(problems) == ["licensing.E001"]
    assert "licensing.Evidence reaches Organization through 'count__application__organization'" in problems[0].msg
    assert 'ownership = OwnedBy("count__application__organization"' in problems[0].hint


@isolate_apps("licensing")
def test_a_declaration_with_a_wrong_path_label_or_no_history_fails_the_check():
    class Evidence(models.Model):
        count = models.ForeignKey(UserCount, on_delete=models.CASCADE)

        class Meta:
            app_label = "licensing"

        ownership = ownership.OwnedBy("count__application", label="{count} {file_name}")

    problems = checks.check_model(Evidence)
    assert ids(problems) == ["licensing.E002", "licensing.E003", "licensing.E004"]
    assert "does not lead to Organization" in problems[0].msg
    assert "file_name" in problems[1].msg
    assert "AuditedHistoricalRecords" in problems[2].hint


@isolate_apps("licensing")
def test_a_model_with_no_path_to_an_organization_needs_no_declaration():
    class Glossary(models.Model):
        term = models.CharField(max_length=40)

        class Meta:
            app_label = "licensing"

    assert checks.check_model(Glossary) == []


@pytest.mark.django_db
@isolate_apps("licensing")
def test_an_undeclared_model_is_invisible_to_everyone_even_a_superuser():
    class Undeclared(models.Model):
        application = models.ForeignKey(Application, on_delete=models.CASCADE)

        class Meta:
            app_label = "licensing"

    superuser = UserFactory(username="root", is_superuser=True)
    assert access.restrict(Undeclared.objects.all(), superuser).query.is_empty()
    assert access.can(superuser, Undeclared(application_id=1)) is False


@pytest.mark.django_db
@isolate_apps("licensing")
def test_declaring_a_new_model_is_all_it_takes_to_be_scoped_and_given_roles(monkeypatch, org_a):
    class Evidence(models.Model):
        count = models.ForeignKey(UserCount, on_delete=models.CASCADE)
        file_name = models.CharField(max_length=200)
        ownership = ownership.OwnedBy("count__application__organization", label="{count} {file_name}")

        class Meta:
            app_label = "licensing"

    # As if the model were installed: the derived lists are read from ownership.declared_models().
    installed = ownership.declared_models()
    monkeypatch.setattr(ownership, "declared_models", lambda: [*installed, Evidence])
    officer = UserFactory(username="officer-a")
    member(officer, org_a, "officer")

    # Scoped: the person's queryset filters through the declared path to their memberships.
    sql = str(access.restrict(Evidence.objects.all(), officer).query)
    assert "licensing_usercount" in sql and "licensing_application" in sql and Membership._meta.db_table in sql
    # Its organization is found the one way every caller uses.
    count = UserCountFactory(application=ApplicationFactory(organization=org_a))
    evidence = Evidence(count=count, file_name="roster.xlsx")
    assert ownership.organization_id_of(evidence) == org_a.pk
    assert access.can(officer, evidence, access.CHANGE) is True
    # Roles: officers add, change and view it; auditors view it.
    permissions = roles.role_permissions()
    assert {"add_evidence", "change_evidence", "view_evidence"} <= set(permissions[roles.OFFICER_GROUP])
    assert "view_evidence" in permissions[roles.AUDITOR_GROUP]
    assert "add_evidence" not in permissions[roles.AUDITOR_GROUP]
    # The scoping and history tests parametrize over the declared models.
    assert "evidence" in [model._meta.model_name for model in ownership.organization_models()]


def test_roles_follow_the_declarations():
    permissions = roles.role_permissions()
    officer, auditor = set(permissions[roles.OFFICER_GROUP]), set(permissions[roles.AUDITOR_GROUP])
    assert {"add_usercount", "change_license", "add_filing", "view_historicallicense", "add_vendor"} <= officer
    # Granting access is an administrator's job; reference data beyond vendors is read-only to officers.
    assert not {"add_membership", "change_membership", "change_vendor", "add_rateschedule"} & officer
    assert {"view_membership", "view_rateschedule", "view_historicalmembership"} <= officer
    assert all(codename.startswith("view_") for codename in auditor)
    assert {f"view_{model._meta.model_name}" for model in ownership.declared_models()} <= auditor


def test_the_audit_trail_lists_exactly_the_organization_owned_models():
    # and people, on the trails of the organizations they are members of (licensing.audit.people)
    assert {record_type.model for record_type in trail.record_types()} == {*ownership.organization_models(), User}


def test_labels_are_declared_where_the_model_is():
    assert ownership.owned_by(UserCount).label_fields == ["application", "license_year"]
    assert ownership.is_money(Vendor, "processing_fee_per_user") is True
    assert ownership.is_money(UserCount, "metric_value") is False


def test_models_no_receiver_needs_keep_djangos_fast_delete():
    # History receivers are connected to the audited models only; unrelated tables delete in one query.
    for model in (ChainHead, Session, LogEntry):
        assert Collector(using="default").can_fast_delete(model.objects.all()), model


@isolate_apps("licensing")
def test_reference_data_that_reaches_an_organization_fails_the_check():
    class Note(models.Model):
        organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
        ownership = ownership.SharedReference(label="{organization}")

        class Meta:
            app_label = "licensing"

    problems = checks.check_model(Note)
    assert "licensing.E005" in ids(problems)
    assert "every signed-in person would read every organization's rows" in problems[0].msg


@pytest.mark.django_db
def test_an_id_set_as_text_still_finds_its_organization(org_a):
    from licensing.models import Contact

    assert ownership.organization_id_of(Contact(organization_id=str(org_a.pk))) == org_a.pk
    assert ownership.organization_ids(Contact, [Contact(organization_id=str(org_a.pk))]) == [org_a.pk]
