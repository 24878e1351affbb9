"""Reminder e-mails (licensing.reminders, manage.py send_reminders): one digest per officer, each item once.

Mail goes to Django's locmem backend (pytest-django's `mailoutbox`); the clock is frozen on 2027-03-15.
"""

import datetime
import os
import smtplib
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from licensing import access, reminders, services
from licensing.audit import verification
from licensing.models import Application, Filing, ReminderSent
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    UserFactory,
    VendorFactory,
    member,
    record,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date(2027, 3, 15)
DAY = datetime.timedelta(days=1)
Kind = ReminderSent.Kind


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(datetime.datetime(2027, 3, 15, 12, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.fixture
def officer_b(org_b):
    user = UserFactory(username="officer-b", first_name="Bea", last_name="Banks")
    member(user, org_b, "officer")
    return user


def ending_license(org, name, days, *, year=2027):
    app = ApplicationFactory(organization=org, name=name)
    return LicenseFactory(application=app, license_year=year, ends_on=TODAY + days * DAY)


def expired_license(org, name):
    return LicenseFactory(application=ApplicationFactory(organization=org, name=name), license_year=2026)


def lapsing_application(org, name):
    vendor = VendorFactory(name=f"{name} Vendor", distribution_agreement_expires=datetime.date(2027, 6, 30))
    return ApplicationFactory(organization=org, name=name, vendor=vendor, cpt_coverage=Application.Coverage.VENDOR)


def stale_count(org, name):
    app = ApplicationFactory(organization=org, name=name)
    return UserCountFactory(application=app, license_year=2027, counted_on=datetime.date(2025, 11, 1))


def unanswered_filing(org):
    moment = datetime.datetime(2027, 1, 4, 15, tzinfo=datetime.UTC)
    return record(
        Filing,
        organization=org,
        license_year=2027,
        status=Filing.Status.SUBMITTED,
        submitted_at=moment,
        pdf_sha256="b" * 64,
    )


def everything_due(org, tag):
    """One record in each situation reminders cover, named with `tag`."""
    return {
        Kind.LICENSE_ENDING_90: ending_license(org, f"{tag} Lab", 60),
        Kind.LICENSE_ENDING_30: ending_license(org, f"{tag} Billing", 20),
        Kind.LICENSE_ENDING_7: ending_license(org, f"{tag} Coding", 6),
        Kind.LICENSE_EXPIRED: expired_license(org, f"{tag} Chargemaster"),
        Kind.VENDOR_COVERAGE_LAPSING: lapsing_application(org, f"{tag} Hosted EHR"),
        Kind.COUNT_STALE: stale_count(org, f"{tag} Analytics"),
        Kind.FILING_UNANSWERED: unanswered_filing(org),
    }


def outbox_for(mailoutbox, user):
    return [message for message in mailoutbox if message.to == [user.email]]


def sent_kinds(user) -> list[str]:
    return sorted(ReminderSent.objects.filter(recipient=user).values_list("kind", flat=True))


# ---------------------------------------------------------------------------------------------
# The digest
# ---------------------------------------------------------------------------------------------


def test_each_officer_gets_one_digest_of_their_organizations_items(mailoutbox, org_a, org_b, officer, officer_b):
    alpha = everything_due(org_a, "Alpha")
    everything_due(org_b, "Beta")

    run = reminders.send_reminders(today=TODAY)

    assert len(mailoutbox) == 2 and len(run.sent) == 2 and run.failed == []
    (message,) = outbox_for(mailoutbox, officer)
    assert message.subject == "CPT licensing: 7 items need attention"
    body = message.body
    assert "Alpha Health" in body and "Alpha Billing 2027 license ends on 2027-04-04, in 20 days" in body
    assert "Alpha Coding 2027 license ends on 2027-03-21, in 6 days" in body
    assert "Alpha Chargemaster 2026 license ended on 2026-12-31" in body
    assert "Alpha Hosted EHR Vendor's AMA distribution agreement ends on 2027-06-30" in body
    assert "Alpha Analytics 2027 user count was counted on 2025-11-01" in body
    assert "submitted on 2027-01-04 and has had no answer from the AMA for 70 days" in body
    assert f"http://127.0.0.1:8000/admin/licensing/license/{alpha[Kind.LICENSE_ENDING_30].pk}/change/" in body
    assert f"http://127.0.0.1:8000/admin/licensing/filing/{alpha[Kind.FILING_UNANSWERED].pk}/change/" in body
    assert "Beta" not in body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "<h2>Alpha Health</h2>" in html and "Beta" not in html
    assert sent_kinds(officer) == sorted(alpha)
    (theirs,) = outbox_for(mailoutbox, officer_b)
    assert "Hello Bea Banks," in theirs.body and "Alpha" not in theirs.body + theirs.alternatives[0][0]
    assert set(ReminderSent.objects.filter(recipient=officer_b).values_list("organization", flat=True)) == {org_b.pk}


def test_one_item_reads_in_the_singular_and_links_to_the_configured_portal(mailoutbox, settings, org_a, officer):
    settings.PORTAL_BASE_URL = "https://cpt.example.org/"
    license = ending_license(org_a, "Epic", 80)

    reminders.send_reminders(today=TODAY)

    (message,) = mailoutbox
    assert message.subject == "CPT licensing: 1 item needs attention"
    assert f"https://cpt.example.org/admin/licensing/license/{license.pk}/change/" in message.body
    assert "https://cpt.example.org/admin/licensing/remindersent/" in message.body


def test_html_alternative_escapes_what_people_typed(mailoutbox, org_a, officer):
    ending_license(org_a, "<script>alert(1)</script>", 80)

    reminders.send_reminders(today=TODAY)

    html = mailoutbox[0].alternatives[0][0]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_nobody_gets_mail_when_nothing_is_due(mailoutbox, org_a, officer):
    ending_license(org_a, "Far off", 200)

    run = reminders.send_reminders(today=TODAY)

    assert mailoutbox == [] and run.sent == [] and ReminderSent.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# Once only
# ---------------------------------------------------------------------------------------------


def test_a_second_run_sends_nothing_again(mailoutbox, org_a, officer):
    everything_due(org_a, "Alpha")
    reminders.send_reminders(today=TODAY)
    recorded = ReminderSent.objects.count()

    again = reminders.send_reminders(today=TODAY)
    next_day = reminders.send_reminders(today=TODAY + DAY)

    assert len(mailoutbox) == 1
    assert again.sent == [] and next_day.sent == [] and again.recorded == next_day.recorded == 0
    assert recorded == 7 == ReminderSent.objects.count()


def test_a_license_found_six_days_out_gets_only_the_seven_day_reminder(mailoutbox, org_a, officer):
    ending_license(org_a, "Late", 6)

    reminders.send_reminders(today=TODAY)

    assert sent_kinds(officer) == [Kind.LICENSE_ENDING_7]
    assert mailoutbox[0].subject == "CPT licensing: 1 item needs attention"


def test_crossing_each_threshold_sends_its_reminder_once(mailoutbox, org_a, officer):
    license = ending_license(org_a, "Epic", 100)
    days_before_end = [100, 95, 90, 60, 31, 30, 29, 8, 7, 3, 0, -1]

    sent_on = {}
    for days in days_before_end:
        run = reminders.send_reminders(today=license.ends_on - days * DAY)
        sent_on[days] = [item.kind for digest in run.sent for item in digest.items]

    assert {days: kinds for days, kinds in sent_on.items() if kinds} == {
        90: [Kind.LICENSE_ENDING_90],
        30: [Kind.LICENSE_ENDING_30],
        7: [Kind.LICENSE_ENDING_7],
        -1: [Kind.LICENSE_EXPIRED],
    }
    assert len(mailoutbox) == 4
    assert sent_kinds(officer) == sorted(
        [Kind.LICENSE_ENDING_90, Kind.LICENSE_ENDING_30, Kind.LICENSE_ENDING_7, Kind.LICENSE_EXPIRED]
    )


def test_a_license_first_seen_at_twenty_days_gets_the_30_then_the_7_day_reminder(mailoutbox, org_a, officer):
    license = ending_license(org_a, "Epic", 20)

    reminders.send_reminders(today=TODAY)
    reminders.send_reminders(today=TODAY + 10 * DAY)
    reminders.send_reminders(today=license.ends_on - 7 * DAY)

    assert sent_kinds(officer) == [Kind.LICENSE_ENDING_30, Kind.LICENSE_ENDING_7]
    assert len(mailoutbox) == 2 and "in 7 days" in mailoutbox[1].body


def test_an_expired_license_is_reminded_of_once_and_not_after_its_renewal_takes_effect(mailoutbox, org_a, officer):
    old = expired_license(org_a, "Coder")

    reminders.send_reminders(today=TODAY)
    reminders.send_reminders(today=TODAY + 30 * DAY)

    assert sent_kinds(officer) == [Kind.LICENSE_EXPIRED]
    assert "Coder 2026 license ended on 2026-12-31 and no later license has taken effect" in mailoutbox[0].body
    assert len(mailoutbox) == 1
    LicenseFactory(application=old.application, license_year=2027)
    assert reminders.digests(TODAY) == []


def test_a_person_who_becomes_an_officer_later_gets_their_own_reminders(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 20)
    reminders.send_reminders(today=TODAY)
    newcomer = UserFactory(username="newcomer")
    member(newcomer, org_a, "officer")

    reminders.send_reminders(today=TODAY + DAY)

    assert [message.to for message in mailoutbox] == [[officer.email], [newcomer.email]]
    assert sent_kinds(newcomer) == [Kind.LICENSE_ENDING_30]


def test_a_vendor_agreement_renewed_and_lapsing_again_is_reminded_of_again(mailoutbox, org_a, officer):
    application = lapsing_application(org_a, "Hosted EHR")
    reminders.send_reminders(today=TODAY)
    vendor = application.vendor
    vendor.distribution_agreement_expires = datetime.date(2028, 6, 30)
    services.record_save(vendor, actor=None, reason="Agreement renewed", validate=False)

    assert reminders.send_reminders(today=TODAY + DAY).sent == []
    assert [item.due_on for digest in reminders.digests(datetime.date(2028, 1, 2)) for item in digest.items] == [
        datetime.date(2028, 6, 30)
    ]


def test_the_database_refuses_the_same_reminder_twice(org_a, officer):
    ending_license(org_a, "Epic", 20)
    reminders.send_reminders(today=TODAY)
    sent = ReminderSent.objects.get()
    duplicate = ReminderSent(
        **{
            field.attname: getattr(sent, field.attname)
            for field in ReminderSent._meta.concrete_fields
            if field.name != "id"
        }
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        services.record_bulk_create([duplicate], ReminderSent, actor=None, reason="Test duplicate")


# ---------------------------------------------------------------------------------------------
# Who receives what
# ---------------------------------------------------------------------------------------------


def test_an_officer_never_receives_another_organizations_records(mailoutbox, org_a, org_b, officer, officer_b):
    everything_due(org_b, "Beta")

    reminders.send_reminders(today=TODAY)

    assert outbox_for(mailoutbox, officer) == []
    assert ReminderSent.objects.filter(recipient=officer).count() == 0
    assert len(outbox_for(mailoutbox, officer_b)) == 1


def test_a_health_system_officer_receives_its_affiliates_items(mailoutbox):
    system = OrganizationFactory(name="Riverbend Health", kind="health_system")
    hospital = OrganizationFactory(name="Riverbend Memorial Hospital", parent=system)
    clinic = OrganizationFactory(name="Riverbend Heart Clinic", parent=hospital)
    elsewhere = OrganizationFactory(name="Elsewhere Hospital")
    system_officer = UserFactory(username="system-officer")
    member(system_officer, system, "officer")
    hospital_officer = UserFactory(username="hospital-officer")
    member(hospital_officer, hospital, "officer")
    for organization in (system, hospital, clinic, elsewhere):
        ending_license(organization, f"{organization.name} EHR", 20)

    reminders.send_reminders(today=TODAY)

    (to_system,) = outbox_for(mailoutbox, system_officer)
    assert to_system.subject == "CPT licensing: 3 items need attention"
    for name in ("Riverbend Health", "Riverbend Memorial Hospital", "Riverbend Heart Clinic"):
        assert f"\n{name}\n" in to_system.body
    assert "Elsewhere" not in to_system.body
    (to_hospital,) = outbox_for(mailoutbox, hospital_officer)
    assert "Riverbend Heart Clinic" in to_hospital.body and "\nRiverbend Health\n" not in to_hospital.body


def test_auditors_receive_nothing_and_mixed_roles_only_where_officer(mailoutbox, org_a, org_b, auditor):
    everything_due(org_a, "Alpha")
    everything_due(org_b, "Beta")
    mixed = UserFactory(username="mixed")
    member(mixed, org_a, "auditor")
    member(mixed, org_b, "officer")

    reminders.send_reminders(today=TODAY)

    assert outbox_for(mailoutbox, auditor) == []
    (message,) = outbox_for(mailoutbox, mixed)
    assert "Beta" in message.body and "Alpha" not in message.body
    assert set(ReminderSent.objects.values_list("organization", flat=True)) == {org_b.pk}


def test_a_superuser_is_reminded_only_of_their_officer_memberships(mailoutbox, org_a, org_b):
    admin = UserFactory(username="administrator", is_superuser=True)
    member(admin, org_a, "officer")
    ending_license(org_a, "Alpha EHR", 20)
    ending_license(org_b, "Beta EHR", 20)

    reminders.send_reminders(today=TODAY)

    (message,) = mailoutbox
    assert "Alpha EHR" in message.body and "Beta" not in message.body


def test_inactive_officers_get_nothing_and_officers_without_an_address_are_reported(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 20)
    officer.is_active = False
    officer.save()
    no_address = UserFactory(username="no-address", email="")
    member(no_address, org_a, "officer")

    run = reminders.send_reminders(today=TODAY)

    assert mailoutbox == [] and run.sent == []
    assert [digest.recipient for digest in run.unreachable] == [no_address]
    assert ReminderSent.objects.count() == 0


def test_the_officers_coverage_is_the_one_access_grants(org_a, org_b):
    """reminders reads all officers' scopes at once; each must equal what access.scope reads for the person."""
    affiliate = OrganizationFactory(name="Alpha North", parent=org_a)
    OrganizationFactory(name="Alpha North Lab", parent=affiliate)
    OrganizationFactory(name="Beta East", parent=org_b)
    people = {
        "top": [(org_a, "officer")],
        "middle": [(affiliate, "officer"), (org_b, "auditor")],
        "two": [(org_a, "officer"), (org_b, "officer")],
        "watcher": [(org_a, "auditor")],
    }
    users = {}
    for name, roles in people.items():
        users[name] = UserFactory(username=name)
        for organization, role in roles:
            member(users[name], organization, role)

    officers, scopes = reminders.officer_scopes()

    assert set(officers) == {users[name].pk for name in ("top", "middle", "two")}
    for name in ("top", "middle", "two"):
        assert scopes[users[name].pk].changeable == access.scope(users[name]).changeable, name
    assert users["watcher"].pk not in scopes


# ---------------------------------------------------------------------------------------------
# Failures, records and history
# ---------------------------------------------------------------------------------------------


class RefusingBackend(EmailBackend):
    """locmem, except that the SMTP server refuses the addresses in REFUSED."""

    REFUSED = {"officer-a@example.org"}

    def send_messages(self, messages):
        for message in messages:
            refused = set(message.to) & self.REFUSED
            if refused:
                raise smtplib.SMTPRecipientsRefused({address: (550, b"No such mailbox") for address in refused})
        return super().send_messages(messages)


def test_a_failed_email_records_nothing_for_that_person_and_the_others_go_on(
    settings, mailoutbox, org_a, org_b, officer, officer_b
):
    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    ending_license(org_a, "Alpha EHR", 20)
    ending_license(org_b, "Beta EHR", 20)

    run = reminders.send_reminders(today=TODAY)

    assert [digest.recipient for digest, _ in run.failed] == [officer]
    assert "SMTPRecipientsRefused" in run.failed[0][1]
    assert [message.to for message in mail.outbox] == [[officer_b.email]]
    assert ReminderSent.objects.filter(recipient=officer).count() == 0
    assert ReminderSent.objects.filter(recipient=officer_b).count() == 1
    # Once the address works, the next run sends what failed, and only that.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    retried = reminders.send_reminders(today=TODAY + DAY)
    assert [digest.recipient for digest in retried.sent] == [officer]


def test_every_record_says_who_was_sent_what_and_its_history_carries_the_reason(mailoutbox, org_a, officer):
    license = ending_license(org_a, "Epic", 20)

    reminders.send_reminders(today=TODAY)

    sent = ReminderSent.objects.get()
    assert (sent.organization, sent.recipient, sent.recipient_email) == (org_a, officer, "officer-a@example.org")
    assert (sent.kind, sent.record_type, sent.object_id) == (Kind.LICENSE_ENDING_30, "licensing.license", license.pk)
    assert sent.record_label == "Epic 2027 license"
    assert (sent.due_on, sent.reminder_date) == (license.ends_on, TODAY)
    assert sent.sent_at == datetime.datetime(2027, 3, 15, 12, tzinfo=datetime.UTC)
    assert sent.subject == mailoutbox[0].subject
    (row,) = sent.history.all()
    assert row.history_change_reason == "Reminder sent by send_reminders"
    assert row.history_user is None and row.history_type == "+" and row.organization_id == org_a.pk
    assert verification.verify() == []


def test_a_deleted_account_keeps_its_name_on_what_it_was_sent(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 20)
    reminders.send_reminders(today=TODAY)
    officer.delete()

    sent = ReminderSent.objects.get()
    assert sent.recipient is None and sent.recipient_name == "officer-a"


def populate(organizations: int, start: int, *, affiliates: bool = True) -> None:
    """Organizations with one record in each situation (and an affiliate with as many), an officer and an auditor."""
    for number in range(start, start + organizations):
        organization = OrganizationFactory(name=f"Org {number}")
        everything_due(organization, f"O{number}")
        if affiliates:
            everything_due(OrganizationFactory(name=f"Org {number} Clinic", parent=organization), f"A{number}")
        member(UserFactory(username=f"officer-{number}"), organization, "officer")
        member(UserFactory(username=f"auditor-{number}"), organization, "auditor")


def queries(work) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = work()
    return len(captured), result


def test_building_the_digests_reads_the_same_queries_for_two_and_for_six_organizations():
    populate(2, start=0)
    few, built = queries(lambda: reminders.digests(TODAY))
    assert [len(digest.items) for digest in built] == [14, 14]
    populate(4, start=2)
    many, built = queries(lambda: reminders.digests(TODAY))

    assert [len(digest.items) for digest in built] == [14] * 6
    assert many == few == 8, f"{few} queries for 2 organizations, {many} for 6"


def test_a_run_sends_and_records_in_the_same_queries_for_one_and_for_three_organizations(mailoutbox):
    # Sizes within one insert batch (SQLite takes some 45 history rows a statement): a statement per batch is
    # not a statement per row, and is not what this measures.
    populate(1, start=0, affiliates=False)
    few, run = queries(lambda: reminders.send_reminders(today=TODAY))
    assert run.recorded == 7
    populate(3, start=1, affiliates=False)
    many, run = queries(lambda: reminders.send_reminders(today=TODAY))

    assert run.recorded == 21 and len(mailoutbox) == 4
    assert many == few, f"{few} queries for 1 organization, {many} for 3 more"
    assert many <= 16


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def command(*args) -> str:
    out = StringIO()
    call_command("send_reminders", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_the_command_sends_and_says_what_it_sent(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 20)

    output = command("--date", "2027-03-15")

    assert "Reminders for 2027-03-15:" in output
    assert "Sent to officer-a <officer-a@example.org>: CPT licensing: 1 item needs attention" in output
    assert "  - Alpha Health: License ends within 30 days: Epic 2027 license (due 2027-04-04)" in output
    assert "1 e-mail(s) sent, 1 reminder(s) recorded." in output
    assert len(mailoutbox) == 1
    assert "Nothing new to remind anyone of." in command()


def test_a_dry_run_prints_who_would_get_what_and_writes_nothing(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 20)
    history_rows = ReminderSent.history.count()

    output = command("--dry-run")

    assert "Reminders for 2027-03-15 (dry run):" in output
    assert "Would send to officer-a <officer-a@example.org>: CPT licensing: 1 item needs attention" in output
    assert "Dry run: 1 e-mail(s) with 1 item(s) would be sent; nothing sent or recorded." in output
    assert mailoutbox == []
    assert ReminderSent.objects.count() == 0 and ReminderSent.history.count() == history_rows
    assert "Sent to officer-a" in command()


def test_the_command_defaults_to_today(mailoutbox, org_a, officer):
    ending_license(org_a, "Epic", 6)

    assert "License ends within 7 days" in command()


@pytest.mark.parametrize("bad", ["15/03/2027", "2027-02-30", "tomorrow", "20270315"])
def test_a_bad_date_is_refused_with_the_format_to_use(bad):
    with pytest.raises(CommandError, match=r"is not a date: give it as YYYY-MM-DD, e\.g\. --date 2027-03-15"):
        command("--date", bad)


def test_the_command_exits_1_after_reporting_a_failed_email(settings, mailoutbox, org_a, officer):
    settings.EMAIL_BACKEND = "tests.test_reminders.RefusingBackend"
    ending_license(org_a, "Epic", 20)
    out = StringIO()

    with pytest.raises(CommandError, match="1 e-mail") as raised:
        call_command("send_reminders", stdout=out, stderr=out)

    assert raised.value.returncode == 1
    assert "Not sent to officer-a <officer-a@example.org>: SMTPRecipientsRefused" in out.getvalue()
    assert ReminderSent.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# The admin: read-only, scoped, searchable by recipient
# ---------------------------------------------------------------------------------------------


def test_an_auditor_sees_what_was_sent_to_whom_and_changes_nothing(
    mailoutbox, org_a, org_b, officer, officer_b, client
):
    ending_license(org_a, "Alpha EHR", 20)
    ending_license(org_b, "Beta EHR", 20)
    reminders.send_reminders(today=TODAY)
    auditor = UserFactory(username="auditor-a")
    member(auditor, org_a, "auditor")
    client.force_login(auditor)

    listing = client.get("/admin/licensing/remindersent/", {"q": "officer-a@example"})

    assert listing.status_code == 200
    shown = list(listing.context["cl"].result_list)
    assert [row.recipient_email for row in shown] == ["officer-a@example.org"]
    page = listing.content.decode()
    assert "Alpha EHR 2027 license" in page and "Beta" not in page
    assert "Add reminder sent" not in page
    sent = shown[0]
    detail = client.get(f"/admin/licensing/remindersent/{sent.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.post(f"/admin/licensing/remindersent/{sent.pk}/change/", {"subject": "x"}).status_code == 403
    filtered = client.get("/admin/licensing/remindersent/", {"kind__exact": Kind.LICENSE_ENDING_7})
    assert list(filtered.context["cl"].result_list) == []


def test_an_officer_of_another_organization_does_not_see_the_record(mailoutbox, org_a, org_b, officer, client):
    ending_license(org_a, "Alpha EHR", 20)
    reminders.send_reminders(today=TODAY)
    outsider = UserFactory(username="outsider")
    member(outsider, org_b, "officer")
    client.force_login(outsider)

    listing = client.get("/admin/licensing/remindersent/")

    assert list(listing.context["cl"].result_list) == []
    assert client.get(f"/admin/licensing/remindersent/{ReminderSent.objects.get().pk}/change/").status_code == 404


# ---------------------------------------------------------------------------------------------
# Settings: mail is configured from the environment
# ---------------------------------------------------------------------------------------------


def setting(code: str, **env) -> str:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "EMAIL_URL", "EMAIL_BACKEND", "PORTAL_BASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", f"from django.conf import settings; {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_mail_goes_to_the_console_unless_configured():
    assert setting("print(settings.EMAIL_BACKEND, settings.PORTAL_BASE_URL)") == (
        "django.core.mail.backends.console.EmailBackend http://127.0.0.1:8000"
    )


def test_email_url_configures_smtp_in_one_variable():
    shown = setting(
        "print(settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER, "
        "settings.EMAIL_USE_TLS, settings.PORTAL_BASE_URL)",
        EMAIL_URL="smtp+tls://mailer:secret@mail.example.org:587",
        PORTAL_BASE_URL="https://cpt.example.org",
    )
    assert (
        shown == "django.core.mail.backends.smtp.EmailBackend mail.example.org 587 mailer True https://cpt.example.org"
    )
