"""Reminder e-mails: each compliance officer's digest of what needs attention in their organizations, sent once.

What is due comes from the dashboard's selectors (licensing.attention), so a reminder and the dashboard
never disagree: licenses ending within 90, 30 and 7 days, expired licenses, lapsing vendor coverage, user
counts older than 12 months and submitted applications unanswered for over 30 days. Each item goes to a person
once (a ReminderSent row per item sent, with history); a license that reaches a threshold gets only the
tightest one it has reached and not yet been sent, so a license found 6 days before its end gets one 7-day
reminder, not three.

Who receives what: every active person with an officer membership receives the items of the organizations
those memberships cover (the organization, its affiliates and theirs, as licensing.access scopes them).
Auditor memberships bring nothing: auditors act on nothing, and read what was sent in the admin. Being a
superuser adds nothing either: an administrator is reminded only of organizations they are an officer of.

The whole build reads a fixed number of queries however many organizations and officers there are; the
scopes of all officers are read at once and each item is checked against them with access.Scope.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from licensing import access, attention, ownership, services
from licensing.choices import MembershipRole, ReminderKind
from licensing.models import Application, Filing, License, Membership, Organization, ReminderSent, UserCount

REASON = "Reminder sent by send_reminders"
# The ReminderSent fields that make an item "the same reminder" for one person (its unique constraint).
Key = tuple[str, str, int, datetime.date]


@dataclass(frozen=True)
class Item:
    """One thing that needs attention: which situation of which record, in which organization, due when."""

    kind: ReminderKind
    organization_id: int
    organization_name: str
    record_type: str
    object_id: int
    label: str
    what: str
    due_on: datetime.date
    url: str

    @property
    def key(self) -> Key:
        return (self.kind.value, self.record_type, self.object_id, self.due_on)


@dataclass
class Digest:
    """One person's e-mail: the items not sent to them before, by organization."""

    recipient: Any
    items: list[Item]
    today: datetime.date

    @property
    def name(self) -> str:
        return str(self.recipient.get_full_name() or self.recipient.get_username())

    @property
    def email(self) -> str:
        return str(self.recipient.email or "")

    @property
    def subject(self) -> str:
        count = len(self.items)
        return f"CPT licensing: {count} item{'s need' if count != 1 else ' needs'} attention"

    def by_organization(self) -> list[tuple[str, list[Item]]]:
        grouped: dict[str, list[Item]] = defaultdict(list)
        for item in self.items:
            grouped[item.organization_name].append(item)
        return sorted(grouped.items())

    def text(self) -> str:
        lines = [
            f"Hello {self.name},",
            "",
            f"These CPT licensing items of your organizations need attention as of {self.today:%Y-%m-%d}:",
        ]
        for organization, items in self.by_organization():
            lines += ["", organization]
            for item in items:
                lines += [f"  - {item.what}", f"    {item.url}"]
        lines += ["", _footer(), ""]
        return "\n".join(lines)

    def html(self) -> str:
        sections = format_html_join(
            "",
            "<h2>{}</h2><ul>{}</ul>",
            (
                (
                    organization,
                    format_html_join(
                        "", '<li>{} <a href="{}">Open in the portal</a></li>', ((i.what, i.url) for i in items)
                    ),
                )
                for organization, items in self.by_organization()
            ),
        )
        return format_html(
            "<p>Hello {},</p><p>These CPT licensing items of your organizations need attention as of {}:</p>"
            "{}<p>{}</p>",
            self.name,
            f"{self.today:%Y-%m-%d}",
            sections,
            _footer(),
        )

    def message(self) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=self.subject, body=self.text(), from_email=settings.DEFAULT_FROM_EMAIL, to=[self.email]
        )
        message.attach_alternative(self.html(), "text/html")
        return message


@dataclass
class Run:
    """What one run did (or, as a dry run, would do)."""

    today: datetime.date
    dry_run: bool
    sent: list[Digest] = field(default_factory=list)
    failed: list[tuple[Digest, str]] = field(default_factory=list)
    # Officers with items due but no e-mail address to send them to.
    unreachable: list[Digest] = field(default_factory=list)
    recorded: int = 0


def _footer() -> str:
    return (
        "Each reminder is sent once. What was sent, to whom and when is listed in the portal under "
        f"Reminders sent: {portal_url('admin:licensing_remindersent_changelist')}"
    )


def portal_url(name: str, *args: object) -> str:
    """The absolute address of an admin page, from settings.PORTAL_BASE_URL."""
    return str(settings.PORTAL_BASE_URL).rstrip("/") + reverse(name, args=args)


def _change_url(obj: models.Model) -> str:
    return portal_url(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", obj.pk)


def _day(day: datetime.date) -> str:
    return f"{day:%Y-%m-%d}"


def _days(count: int) -> str:
    return f"{count} day{'s' if count != 1 else ''}"


def _item(
    kind: ReminderKind, obj: models.Model, organization: Organization, label: str, what: str, due_on: Any
) -> Item:
    return Item(
        kind=kind,
        organization_id=int(organization.pk),
        organization_name=organization.name,
        record_type=obj._meta.label_lower,
        object_id=int(obj.pk),
        label=label,
        what=what,
        due_on=due_on,
        url=_change_url(obj),
    )


# ---------------------------------------------------------------------------------------------
# What is due, in the organizations officers cover
# ---------------------------------------------------------------------------------------------


def _in(model: type[models.Model], organization_ids: Iterable[int]) -> Q:
    """Rows of `model` belonging to these organizations, by the model's ownership declaration."""
    declared = ownership.owned_by(model)
    if declared is None:
        raise TypeError(f"{model.__name__} declares no owning organization; reminders cover organizations' records.")
    return Q(**{declared.lookup("pk") + "__in": list(organization_ids)})


def _ending_and_expired(today: datetime.date, covered: set[int]) -> list[Item]:
    widest = max(attention.ENDING_THRESHOLDS)
    licenses = License.objects.filter(_in(License, covered)).select_related("application__organization")
    items = []
    for license in attention.licenses_ending(licenses, today=today, within_days=widest):
        left = (license.term_end - today).days
        threshold = attention.ending_threshold(left)
        if threshold is None:
            continue
        when = "ends today" if left == 0 else f"ends on {_day(license.term_end)}, in {_days(left)}"
        label = f"{license.application.name} {license.license_year} license"
        what = f"{label} {when}: renew it (or record why it is not needed)."
        kind = ReminderKind.ending(threshold)
        items.append(_item(kind, license, license.application.organization, label, what, license.term_end))
    for license in attention.licenses_expired(licenses, today=today):
        label = f"{license.application.name} {license.license_year} license"
        what = (
            f"{label} ended on {_day(license.term_end)} and no later license has taken effect: renew it, or "
            "record why the system needs none."
        )
        organization = license.application.organization
        items.append(_item(ReminderKind.LICENSE_EXPIRED, license, organization, label, what, license.term_end))
    return items


def _vendor_coverage(today: datetime.date, covered: set[int]) -> list[Item]:
    applications = Application.objects.filter(_in(Application, covered)).select_related("organization", "vendor")
    items = []
    for application in attention.vendor_coverage_lapsing(applications, license_year=today.year):
        vendor = application.vendor
        expires = vendor.distribution_agreement_expires if vendor is not None else None
        if vendor is None or expires is None:
            continue  # the selector requires both; kept for the type checker
        verb = "ended" if expires < today else "ends"
        what = (
            f"{application.name}: {vendor.name}'s AMA distribution agreement {verb} on {_day(expires)}; the "
            f"vendor covers CPT only while it is in force. Get the renewed agreement or license CPT directly."
        )
        kind = ReminderKind.VENDOR_COVERAGE_LAPSING
        items.append(_item(kind, application, application.organization, application.name, what, expires))
    return items


def _stale_counts(today: datetime.date, covered: set[int]) -> list[Item]:
    counts = UserCount.objects.filter(_in(UserCount, covered)).select_related("application__organization")
    items = []
    for count in attention.counts_stale(counts, today=today, license_year=today.year):
        label = f"{count.application.name} {count.license_year} user count"
        taken = (
            f"was counted on {_day(count.counted_on)}, more than 12 months ago" if count.counted_on else "has no date"
        )
        what = f"{label} {taken}: count the users again and record the date."
        due_on = attention.count_stale_since(count.counted_on, license_year=count.license_year)
        organization = count.application.organization
        items.append(_item(ReminderKind.COUNT_STALE, count, organization, label, what, due_on))
    return items


def _unanswered_filings(today: datetime.date, covered: set[int]) -> list[Item]:
    # A reminder names the filing; its frozen PDF and snapshot stay unread.
    filings = Filing.objects.filter(_in(Filing, covered)).select_related("organization").defer("pdf", "snapshot")
    items = []
    for filing in attention.filings_unanswered(filings, today=today):
        if filing.submitted_at is None:
            continue  # the selector requires it; kept for the type checker
        submitted = timezone.localdate(filing.submitted_at)
        label = f"CPT license application {filing.license_year} ({filing.document_id})"
        what = (
            f"{label} was submitted on {_day(submitted)} and has had no answer from the AMA for "
            f"{_days((today - submitted).days)}: ask the AMA, or record its answer."
        )
        due_on = attention.filing_unanswered_since(submitted)
        items.append(_item(ReminderKind.FILING_UNANSWERED, filing, filing.organization, label, what, due_on))
    return items


def due_items(today: datetime.date, organization_ids: set[int]) -> list[Item]:
    """Everything due on `today` in these organizations (five queries, whatever their number)."""
    if not organization_ids:
        return []
    return [
        *_ending_and_expired(today, organization_ids),
        *_vendor_coverage(today, organization_ids),
        *_stale_counts(today, organization_ids),
        *_unanswered_filings(today, organization_ids),
    ]


# ---------------------------------------------------------------------------------------------
# Who receives what
# ---------------------------------------------------------------------------------------------


def officer_scopes() -> tuple[dict[int, Any], dict[int, access.Scope]]:
    """Every active officer, and the organizations their officer memberships cover (two queries).

    The same coverage access.scope reads person by person (an organization, its affiliates and theirs),
    read here for all officers at once; only the officer memberships count, and superusers get no wider
    reach than those memberships give.
    """
    memberships = list(
        Membership.objects.filter(role=MembershipRole.OFFICER, user__is_active=True).select_related("user")
    )
    officers = {membership.user_id: membership.user for membership in memberships}
    officers_at: dict[int, set[int]] = defaultdict(set)
    for membership in memberships:
        officers_at[membership.organization_id].add(membership.user_id)
    member_ids = list(officers_at)
    tree = Organization.objects.filter(
        Q(pk__in=member_ids) | Q(parent__in=member_ids) | Q(parent__parent__in=member_ids)
    ).values_list("pk", "parent_id", "parent__parent_id")
    covered: dict[int, set[int]] = defaultdict(set)
    for pk, parent, grandparent in tree:
        for node in (pk, parent, grandparent):
            for user_id in officers_at.get(node, ()) if node is not None else ():
                covered[user_id].add(pk)
    scopes = {
        user_id: access.Scope(everything=False, viewable=frozenset(ids), changeable=frozenset(ids))
        for user_id, ids in covered.items()
    }
    return officers, scopes


def _already_sent(recipient_ids: Iterable[int], items: Sequence[Item]) -> set[tuple[int, Key]]:
    """(recipient id, item key) of every item already sent to one of these people (one query)."""
    by_type: dict[str, set[int]] = defaultdict(set)
    for item in items:
        by_type[item.record_type].add(item.object_id)
    if not by_type:
        return set()
    about = Q()
    for record_type, ids in by_type.items():
        about |= Q(record_type=record_type, object_id__in=ids)
    rows = ReminderSent.objects.filter(about, recipient_id__in=list(recipient_ids)).values_list(
        "recipient_id", "kind", "record_type", "object_id", "due_on"
    )
    return {
        (recipient, (kind, record_type, object_id, due_on)) for recipient, kind, record_type, object_id, due_on in rows
    }


def digests(today: datetime.date) -> list[Digest]:
    """Each officer's digest for `today`: the items due in the organizations they cover, minus what they
    were sent already; people with nothing new get none. A fixed number of queries (eight)."""
    officers, scopes = officer_scopes()
    covered = set().union(*(scope.changeable for scope in scopes.values())) if scopes else set()
    items = sorted(due_items(today, covered), key=lambda item: (item.organization_name, item.due_on, item.label))
    sent = _already_sent(scopes, items)
    found = []
    for user_id, scope in scopes.items():
        mine = [
            item
            for item in items
            if scope.allows(item.organization_id, access.CHANGE) and (user_id, item.key) not in sent
        ]
        if mine:
            found.append(Digest(recipient=officers[user_id], items=mine, today=today))
    return sorted(found, key=lambda digest: (digest.name.lower(), digest.recipient.pk))


# ---------------------------------------------------------------------------------------------
# Sending and recording
# ---------------------------------------------------------------------------------------------


def _records(digest: Digest, sent_at: datetime.datetime) -> list[ReminderSent]:
    return [
        ReminderSent(
            organization_id=item.organization_id,
            recipient=digest.recipient,
            recipient_name=digest.name[:150],
            recipient_email=digest.email,
            kind=item.kind,
            record_type=item.record_type,
            object_id=item.object_id,
            record_label=item.label[:300],
            due_on=item.due_on,
            reminder_date=digest.today,
            sent_at=sent_at,
            subject=digest.subject,
        )
        for item in digest.items
    ]


def send_reminders(*, today: datetime.date | None = None, dry_run: bool = False) -> Run:
    """Build every officer's digest for `today` (default: today), e-mail each, and record what was sent.

    One e-mail per person; a person whose e-mail fails (or who has no address) gets nothing recorded, so
    the next run tries again, and the others go on. What was sent is recorded in one bulk write, with the
    system as actor and REASON, after the e-mails left. A dry run sends and records nothing.
    """
    today = today or timezone.localdate()
    run = Run(today=today, dry_run=dry_run)
    records: list[ReminderSent] = []
    for digest in digests(today):
        if not digest.email:
            run.unreachable.append(digest)
            continue
        if dry_run:
            run.sent.append(digest)
            continue
        try:
            digest.message().send()
        except Exception as error:  # an SMTP refusal, a timeout, a bad address: report it and go on
            run.failed.append((digest, f"{type(error).__name__}: {error}"))
            continue
        run.sent.append(digest)
        records += _records(digest, timezone.now())
    if records:
        organization_ids: list[int | None] = [record.organization_id for record in records]
        services.record_bulk_create(records, ReminderSent, actor=None, reason=REASON, organization_ids=organization_ids)
        run.recorded = len(records)
    return run
