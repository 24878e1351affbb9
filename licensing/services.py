"""Every write, as an action with an explicit actor and reason: validated, atomic, recorded in history.

`record_save`, `record_delete` and the two bulk functions are the audited write path: the admin, commands,
the demo and the tests write tracked records only through them. The named actions below (`license_renew`,
`membership_revoke`, `filing_submit` ...) are the domain's verbs, built on that path.
"""

import datetime
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from licensing import access, counting, filings, reconciliation_selectors, roles, standing, versions
from licensing.audit import bulk
from licensing.choices import CountMethod, FilingStatus, LicenseStatus, MembershipRole
from licensing.models import Application, Contact, Filing, License, Membership, Organization, UserCount
from licensing.models.purges import PurgedChain, RosterPurge
from licensing.models.reconciliation import FindingAcceptance
from licensing.models.rosters import Person, RoleMapping, Roster, RosterLine, derived_fields_following, role_key
from licensing.models.years import LICENSE_YEAR_VALIDATORS
from licensing.reconciliation import FindingKind, identifier_key

# Callers catch services.StaleRecord: a save started from a version someone else has saved over since.
from licensing.versions import StaleRecord as StaleRecord

# Who made a change: a person, or None for the system (migrations, scheduled jobs), shown as "system".
Actor = AbstractBaseUser | None
Record = TypeVar("Record", bound=models.Model)


def _after_write(model: type[models.Model]) -> None:
    # Memberships and organizations' places in their trees decide who sees what: read scopes anew.
    if issubclass(model, (Membership, Organization)):
        access.forget()


def _refresh_derived(model: type[models.Model], objs: Sequence[models.Model], fields: list[str]) -> list[str]:
    """Stored values derived from others (Person.looks_shared): set on each object, written with what they follow.

    The bulk paths skip save(), which sets them for a single record; so they are set here, on every bulk write.
    """
    if not hasattr(model, "DERIVED_FIELDS"):
        return fields
    for obj in objs:
        obj.refresh_derived()  # type: ignore[attr-defined]
    following = [name for name in derived_fields_following(model, fields) if name not in fields]
    return [*fields, *following]


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValueError("Every recorded change needs a reason; pass reason='...'.")
    return reason.strip()


def record_save(
    obj: Record, *, actor: Actor, reason: str, validate: bool = True, expected_version: int | None = None
) -> Record:
    """Save `obj`, writing who and why on its history row: the one way a tracked record is saved.

    `validate=False` only where a form has just run the same model validation (admin saves). A versioned
    record (licensing.versions) is saved only if it is still at `expected_version` (the version the person
    saw; by default the one `obj` was loaded with), else StaleRecord says what changed meanwhile.
    """
    reason = _require_reason(reason)
    with transaction.atomic():
        loaded = _claim_version(obj, expected_version)
        try:
            if validate:
                obj.full_clean()
            obj._history_user = actor  # type: ignore[attr-defined]
            obj._change_reason = reason  # type: ignore[attr-defined]
            obj.save()
        except BaseException:
            if loaded is not None:
                obj.version = loaded  # type: ignore[attr-defined]
            raise
    _after_write(type(obj))
    return obj


def _claim_version(obj: models.Model, expected: int | None) -> int | None:
    """Lock the stored row and move `obj` to the next version, or raise StaleRecord; the version `obj` had."""
    model = type(obj)
    if not versions.is_versioned(model) or obj._state.adding or obj.pk is None:
        return None
    loaded = obj.version  # type: ignore[attr-defined]
    expected = loaded if expected is None else expected
    # The row lock makes a concurrent save of the same record wait here, then find the version it wrote.
    current = model._default_manager.select_for_update().filter(pk=obj.pk).values_list(versions.VERSION, flat=True)
    stored = current.first()
    if stored is None:
        return None
    versions.check(model, {obj.pk: (obj, expected)}, {obj.pk: stored})
    obj.version = stored + 1  # type: ignore[attr-defined]
    return loaded


def record_delete(obj: models.Model, *, actor: Actor, reason: str) -> None:
    """Delete `obj`; its history gets a final "deleted" row naming who and why."""
    reason = _require_reason(reason)
    with transaction.atomic():
        obj._history_user = actor  # type: ignore[attr-defined]
        obj._change_reason = reason  # type: ignore[attr-defined]
        obj.delete()
    _after_write(type(obj))


def record_bulk_create(
    objs: Sequence[Record], model: type[Record], *, actor: Actor, reason: str, **options
) -> list[Record]:
    """Insert many records at once, each with one stamped history row (licensing.audit.bulk.create)."""
    _refresh_derived(model, objs, [])
    created = bulk.create(objs, model, actor=actor, reason=_require_reason(reason), **options)
    _after_write(model)
    return created


def record_bulk_update(
    objs: Sequence[Record], model: type[Record], fields: list[str], *, actor: Actor, reason: str, **options
) -> list[Record]:
    """Update `fields` of many records at once, each with one stamped history row (licensing.audit.bulk.update)."""
    fields = _refresh_derived(model, objs, fields)
    updated = bulk.update(objs, model, fields, actor=actor, reason=_require_reason(reason), **options)
    _after_write(model)
    return updated


# ---------------------------------------------------------------------------------------------
# Licenses
# ---------------------------------------------------------------------------------------------


def _renewal_license(license: License, license_year: int) -> License:
    """The license that renews `license` in `license_year`, unsaved.

    The AMA licenses each annual release separately, so a renewal is a new license that starts as needed
    (or stays covered by vendor) and carries over the route, distributor and licensed users as a starting
    point; the agreement number, dates and notes belong to the old year's agreement.
    """
    return License(
        application=license.application,
        license_year=license_year,
        route=license.route,
        distributor=license.distributor,
        licensed_users=license.licensed_users,
        status=LicenseStatus.COVERED_BY_VENDOR
        if license.status == LicenseStatus.COVERED_BY_VENDOR
        else LicenseStatus.NEEDED,
        renewal_of=license,
    )


@transaction.atomic
def license_renew(*, license: License, actor: Actor, reason: str = "") -> License:
    """Open next year's license for the same application; the old license stays as it was."""
    renewal = _renewal_license(license, license.license_year + 1)
    return record_save(renewal, actor=actor, reason=reason or f"Renewal of the {license.license_year} license")


def license_set_status(
    *, license: License, status: str, actor: Actor, reason: str, expected_version: int | None = None, **fields
) -> License:
    """Move a license along its workflow (licensing.workflow), with any fields the new status needs.

    The admin's license pages call this whenever the status changes; the model's validation refuses a
    move the workflow does not allow and names what is allowed instead. `expected_version` as for record_save.
    """
    license.status = status
    for name, value in fields.items():
        setattr(license, name, value)
    return record_save(license, actor=actor, reason=reason, expected_version=expected_version)


# ---------------------------------------------------------------------------------------------
# Renewal: next year's licenses and user counts for many applications at once
# ---------------------------------------------------------------------------------------------

# The figures a renewal copies from the latest earlier user count (how the number was reached, and when).
COPIED_COUNT_FIELDS = (
    "method",
    "direct_users",
    "program_users",
    "output_users",
    "base_metric",
    "metric_value",
    "metric_source",
    "factor",
    "counted_on",
    "counted_by",
)


@dataclass
class RenewalLine:
    """What a renewal does for one application: the license and user count it opens (None where it opens
    none), and in words what happens to each, or why not."""

    application: Application
    license: License | None = None
    count: UserCount | None = None
    license_note: str = ""
    count_note: str = ""
    # The years copied from.
    license_from: int | None = None
    count_from: int | None = None
    # Why nothing is opened for this application ("already renewed", "not in service in 2027"); empty otherwise.
    skipped: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class RenewalResult:
    """What `renew` opened (or `renewal_plan` would open) in `to_year`, one line per application concerned."""

    to_year: int
    lines: list[RenewalLine]
    reason: str
    written: bool = False

    @property
    def licenses(self) -> list[License]:
        return [line.license for line in self.lines if line.license is not None]

    @property
    def counts(self) -> list[UserCount]:
        return [line.count for line in self.lines if line.count is not None]

    @property
    def renewed(self) -> list[RenewalLine]:
        return [line for line in self.lines if line.license is not None or line.count is not None]

    @property
    def skipped(self) -> list[RenewalLine]:
        return [line for line in self.lines if line.license is None and line.count is None]

    @property
    def problems(self) -> list[str]:
        return [problem for line in self.lines for problem in line.problems]

    def summary(self) -> str:
        """The outcome in plain words, e.g. "Renewed 3 applications for 2027: 3 licenses (needed) and 3 user
        counts to review. 1 already renewed, skipped." """
        year = self.to_year
        verb = "Renewed" if self.written else "Will renew"
        opened = []
        if self.licenses:
            statuses = Counter(LicenseStatus(license.status).label.lower() for license in self.licenses)
            kinds = (
                next(iter(statuses))
                if len(statuses) == 1
                else ", ".join(f"{n} {label}" for label, n in sorted(statuses.items()))
            )
            opened.append(f"{_number(len(self.licenses), 'license')} ({kinds})")
        if self.counts:
            opened.append(f"{_number(len(self.counts), 'user count')} to review")
        if opened:
            sentences = [f"{verb} {_number(len(self.renewed), 'application')} for {year}: {' and '.join(opened)}."]
        else:
            sentences = [f"Nothing to renew for {year}."]
        why_skipped = Counter(line.skipped for line in self.skipped)
        if why_skipped:
            sentences.append(", ".join(f"{n} {why}" for why, n in why_skipped.items()) + ", skipped.")
        for record, missing in (
            ("license", [line for line in self.renewed if line.license_note == NO_EARLIER_LICENSE]),
            ("user count", [line for line in self.renewed if line.count_note == NO_EARLIER_COUNT]),
        ):
            if missing:
                sentences.append(
                    f"{_number(len(missing), 'application')} had no earlier {record} to copy: "
                    f"add {'its' if len(missing) == 1 else 'their'} {year} {record} by hand."
                )
        return " ".join(sentences)


NO_EARLIER_LICENSE = "no earlier license to carry over"
NO_EARLIER_COUNT = "no earlier count to copy"
ALREADY_THERE = "already there"


def _number(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def renewal_plan(
    *,
    licenses: Iterable[License | int] | None = None,
    organizations: Iterable[Organization | int] | None = None,
    to_year: int,
    actor: Actor,
) -> RenewalResult:
    """What `renew` would open in `to_year` for the same selection, without writing anything (a confirmation
    page shows it). Refuses a selection the actor may not change, as `renew` does."""
    return _plan(licenses=licenses, organizations=organizations, to_year=to_year, actor=actor, lock=False)


@transaction.atomic
def renew(
    *,
    licenses: Iterable[License | int] | None = None,
    organizations: Iterable[Organization | int] | None = None,
    to_year: int,
    actor: Actor,
    reason: str = "",
) -> RenewalResult:
    """Open `to_year`'s licenses and user counts for the applications concerned; the earlier years stay as they were.

    The applications concerned are those of the selected `licenses`, or every application of the selected
    `organizations` (their own, not their affiliates': select those too). For each one in service in
    `to_year` that has CPT content, and for each of the two records it has none of in `to_year` yet:

    - a license carried over from its latest earlier license (`_renewal_license`: needed, or still covered
      by vendor; route, distributor and licensed users kept), as its renewal when that one is not renewed yet;
    - a user count copied from its latest earlier count (same method and figures), marked `needs_review`,
      its evidence saying where it came from.

    Nothing that exists is touched, so running it again opens nothing more (the result says "already
    renewed"). Both kinds are written in bulk (a fixed number of queries however many applications), each
    row with one history row carrying `actor` and `reason`. A selection with anything the actor may not
    change (another organization's ids) raises PermissionDenied and writes nothing; `actor=None`, the
    system, may renew anything.
    """
    plan = _plan(licenses=licenses, organizations=organizations, to_year=to_year, actor=actor, lock=True)
    plan.reason = _require_reason(reason or plan.reason)
    opened: list[tuple[type[models.Model], list]] = [(License, plan.licenses), (UserCount, plan.counts)]
    for model, records in opened:
        if records:
            owners = [record.application.organization_id for record in records]
            record_bulk_create(records, model, actor=actor, reason=plan.reason, organization_ids=owners)
    plan.written = True
    return plan


def _plan(*, licenses, organizations, to_year: int, actor: Actor, lock: bool) -> RenewalResult:
    for validator in LICENSE_YEAR_VALIDATORS:
        validator(to_year)
    applications = Application.objects.select_related("organization").order_by("pk")
    if licenses is not None:
        rows = _changeable(License, licenses, "application_id", actor, "licenses")
        applications = applications.filter(pk__in={application_id for _, application_id in rows})
    elif organizations is not None:
        rows = _changeable(Organization, organizations, "pk", actor, "organizations")
        applications = applications.filter(organization_id__in=[pk for pk, _ in rows])
    else:
        raise ValidationError("Choose the licenses or organizations to renew.")
    if lock:
        # Two renewals of the same applications at once: the second waits, then finds the first one's rows.
        applications = applications.select_for_update(of=("self",))
    concerned = list(applications)
    ids = [application.pk for application in concerned]
    license_now, license_before = _this_and_latest_earlier(License, ids, to_year, ["distributor", "renewed_by"])
    count_now, count_before = _this_and_latest_earlier(UserCount, ids, to_year, [])
    lines = []
    for application in concerned:
        line = RenewalLine(application=application)
        if not application.in_service_during(to_year):
            line.skipped = line.license_note = line.count_note = f"not in service in {to_year}"
        elif not application.has_cpt:
            line.skipped = line.license_note = line.count_note = "with no CPT content"
        else:
            _plan_license(line, license_now.get(application.pk), license_before.get(application.pk), to_year)
            _plan_count(line, count_now.get(application.pk), count_before.get(application.pk), to_year)
            if line.license is None and line.count is None:
                exists = application.pk in license_now or application.pk in count_now
                if line.problems:
                    line.skipped = "with a copy the rules refuse"
                else:
                    line.skipped = "already renewed" if exists else "with nothing earlier to copy"
        lines.append(line)
    source_years = {line.license_from for line in lines if line.license}
    source_years |= {line.count_from for line in lines if line.count}
    reason = f"Renewal for {to_year}" + (f" from {source_years.pop()}" if len(source_years) == 1 else "")
    return RenewalResult(to_year=to_year, lines=lines, reason=reason)


def _changeable(model, given, path: str, actor: Actor, plural: str) -> list[tuple[int, int]]:
    """(pk, `path`) of the given records, refusing them all if the actor may not change any one of them."""
    wanted = {getattr(item, "pk", item) for item in given}
    if not wanted:
        raise ValidationError(f"No {plural} were selected; choose the {plural} to renew.")
    found = model._default_manager.filter(pk__in=wanted)
    if actor is not None:
        found = access.restrict(found, actor, access.CHANGE)
    rows = list(found.values_list("pk", path))
    if len(rows) < len(wanted):
        missing = len(wanted) - len(rows)
        raise PermissionDenied(
            f"{missing} of the {len(wanted)} selected {plural} do not exist or belong to an organization you may "
            "not change. Nothing was renewed; select only your own organizations' records."
        )
    return rows


def _this_and_latest_earlier(model, application_ids: list[int], year: int, related: list[str]) -> tuple[dict, dict]:
    """Records of `model` per application: the one of `year`, and the latest one of an earlier year (one query)."""
    latest_earlier = (
        model._default_manager.filter(application_id=OuterRef("application_id"), license_year__lt=year)
        .order_by("-license_year")
        .values("license_year")[:1]
    )
    now, before = {}, {}
    found = model._default_manager.filter(application_id__in=application_ids).filter(
        Q(license_year=year) | Q(license_year=Subquery(latest_earlier))
    )
    for record in found.select_related(*related):
        (now if record.license_year == year else before)[record.application_id] = record
    return now, before


def _plan_license(line: RenewalLine, existing: License | None, previous: License | None, year: int) -> None:
    if existing is not None:
        line.license_note = ALREADY_THERE
        return
    if previous is None:
        line.license_note = NO_EARLIER_LICENSE
        return
    # Read before building the renewal, which points the old license's reverse relation at itself.
    renewed_already = hasattr(previous, "renewed_by")
    previous.application = line.application  # loaded already: the renewal takes it without a query
    renewal = _renewal_license(previous, year)
    if renewed_already:
        # Renewed into a later year already: carried over all the same, but only one license renews another.
        renewal.renewal_of = None
    if _valid(renewal, line, f"the {year} license"):
        line.license, line.license_from = renewal, previous.license_year
        users = f", {previous.licensed_users} users" if previous.licensed_users is not None else ""
        line.license_note = (
            f"{LicenseStatus(renewal.status).label.lower()}, from the {previous.license_year} license: "
            f"{previous.get_route_display()}{users}"
        )


def _plan_count(line: RenewalLine, existing: UserCount | None, previous: UserCount | None, year: int) -> None:
    if existing is not None:
        line.count_note = ALREADY_THERE
        return
    if previous is None:
        line.count_note = NO_EARLIER_COUNT
        return
    evidence = (
        f"Copied from the {previous.license_year} user count by the renewal for {year}: "
        "check the figures, then untick 'needs review' and save."
    )
    if previous.evidence.strip():
        evidence += f" Evidence of the {previous.license_year} count: {previous.evidence.strip()}"
    count = UserCount(
        application=line.application,
        license_year=year,
        evidence=evidence,
        needs_review=True,
        **{name: getattr(previous, name) for name in COPIED_COUNT_FIELDS},
    )
    if _valid(count, line, f"the {year} user count"):
        line.count, line.count_from = count, previous.license_year
        line.count_note = f"copied from the {previous.license_year} count ({count.users} users), to review"


def _valid(obj: models.Model, line: RenewalLine, label: str) -> bool:
    """Validate a copy without queries: its fields' own checks and the model's rules. Uniqueness is the plan's
    to ensure (it opens only what is missing) and foreign keys point at rows just read."""
    try:
        obj.clean_fields(exclude=[f.name for f in obj._meta.concrete_fields if f.is_relation])
        obj.clean()
    except ValidationError as error:
        note = f"not copied: {' '.join(error.messages)}"
        line.problems.append(f"{line.application.name}: {label} was {note}")
        if isinstance(obj, License):
            line.license_note = note
        else:
            line.count_note = note
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Organizations
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def organization_delete(*, organization: Organization, actor: Actor, reason: str) -> None:
    """Remove an organization entered by mistake, and what the database would delete with it, each with
    the reason: memberships are revoked (their people leave the role groups), then its own records go.

    Applications and filings protect an organization: one that has them cannot be deleted.
    """
    for membership in organization.memberships.select_related("user", "organization"):
        membership_revoke(membership=membership, actor=actor, reason=reason)
    for relation in organization._meta.related_objects:
        if relation.on_delete is models.CASCADE and relation.related_model is not Membership:
            for record in relation.related_model._default_manager.filter(**{relation.field.name: organization}):
                record_delete(record, actor=actor, reason=reason)
    record_delete(organization, actor=actor, reason=reason)


def license_save(
    *, license: License, changed: Sequence[str], actor: Actor, reason: str, expected_version: int | None = None
) -> License:
    """Save a license edited as a whole (an admin form): a changed status is a workflow move, the rest a plain
    audited save. `changed` names the fields the person changed; the form has validated the license.
    `expected_version` is the version the person opened (record_save refuses the save if it moved on)."""
    if license.pk and "status" in changed:
        return license_set_status(
            license=license, status=license.status, actor=actor, reason=reason, expected_version=expected_version
        )
    return record_save(license, actor=actor, reason=reason, validate=False, expected_version=expected_version)


# ---------------------------------------------------------------------------------------------
# Memberships: who may see and change which organizations
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def membership_grant(*, user, organization, role: str, actor: Actor, reason: str = "") -> Membership:
    """Give a person a role at an organization (and its affiliates), with the matching admin permissions."""
    membership = Membership.objects.filter(user=user, organization=organization).first() or Membership(
        user=user, organization=organization
    )
    if membership.pk and membership.role == role:
        membership_sync_groups(user=user, actor=actor, reason=reason, organization_id=organization.pk)
        return membership
    membership.role = role
    reason = reason or f"Granted {membership.get_role_display()}"
    record_save(membership, actor=actor, reason=reason)
    membership_sync_groups(user=user, actor=actor, reason=reason, organization_id=organization.pk)
    return membership


@transaction.atomic
def membership_save(*, membership: Membership, actor: Actor, reason: str) -> Membership:
    """Save a membership edited as a whole (the admin form): both the old and the new person's groups follow."""
    before = Membership.objects.filter(pk=membership.pk).values_list("user_id", "organization_id").first()
    record_save(membership, actor=actor, reason=reason, validate=False)
    membership_sync_groups(user=membership.user, actor=actor, reason=reason, organization_id=membership.organization_id)
    if before is not None and before[0] != membership.user_id:
        former = type(membership.user)._default_manager.get(pk=before[0])
        membership_sync_groups(user=former, actor=actor, reason=reason, organization_id=before[1])
    return membership


@transaction.atomic
def membership_revoke(*, membership: Membership, actor: Actor, reason: str = "") -> None:
    """End a person's role at an organization; their groups and admin access follow what remains."""
    user = membership.user
    reason = reason or f"{membership.get_role_display()} at {membership.organization} revoked"
    record_delete(membership, actor=actor, reason=reason)
    membership_sync_groups(user=user, actor=actor, reason=reason, organization_id=membership.organization_id)


MEMBERSHIP_GROUPS_REASON = "Role groups follow the person's memberships"


def membership_sync_groups(*, user, actor: Actor = None, reason: str = "", organization_id: int | None = None) -> None:
    """Put a person in exactly the role groups their memberships call for, and let them into the admin or out.

    Staff status is taken away only from people whom nothing else lets in: no other group, no permission
    of their own, not a superuser. What changes is one history row of the person, with `actor` and `reason`;
    a membership's change names its organization, so the row appears in that organization's audit trail only.
    """
    wanted = {
        roles.OFFICER_GROUP if role == MembershipRole.OFFICER else roles.AUDITOR_GROUP
        for role in Membership.objects.filter(user=user).values_list("role", flat=True)
    }
    role_groups = Group.objects.filter(name__in=roles.ROLE_GROUPS)
    held = set(user.groups.filter(name__in=roles.ROLE_GROUPS).values_list("name", flat=True))
    leaving = [group for group in role_groups if group.name in held and group.name not in wanted]
    joining = [group for group in role_groups if group.name in wanted and group.name not in held]
    staff = user.is_staff
    if wanted and not user.is_staff:
        staff = True
    elif not wanted and user.is_staff and not _let_in_otherwise(user):
        staff = False
    access.forget()
    if not leaving and not joining and staff == user.is_staff:
        return
    organizations = [organization_id] if organization_id is not None else None
    with _one_history_row(user, actor=actor, reason=reason or MEMBERSHIP_GROUPS_REASON, organization_ids=organizations):
        user.groups.remove(*leaving)
        user.groups.add(*joining)
        if staff != user.is_staff:
            user.is_staff = staff
            user.save(update_fields=["is_staff"])
    access.forget()


def _let_in_otherwise(user) -> bool:
    return (
        user.is_superuser or user.user_permissions.exists() or user.groups.exclude(name__in=roles.ROLE_GROUPS).exists()
    )


# ---------------------------------------------------------------------------------------------
# Filings: the CPT licensing application
# ---------------------------------------------------------------------------------------------


@transaction.atomic
def filing_prepare(*, organization, license_year: int, actor: Actor, reason: str = "") -> Filing:
    """Start a draft application for a year, including every application that needs a direct license."""
    filing = Filing(organization=organization, license_year=license_year)
    contact = (
        organization.contacts.filter(role=Contact.Role.LEGAL).first()
        or organization.contacts.filter(role=Contact.Role.PRIMARY).first()
    )
    if contact is not None:
        filing.signatory_name, filing.signatory_title = contact.name, contact.title
    record_save(filing, actor=actor, reason=reason or f"Application for {license_year} prepared")
    filing.applications.set(filings.default_applications(organization, license_year))
    _render_preview_ahead(filing)
    return filing


def _render_preview_ahead(filing: Filing) -> None:
    """Render a new draft's PDF once this commits, so the officer's first preview is read from the cache."""
    from licensing import jobs, tasks

    transaction.on_commit(partial(jobs.in_background, tasks.render_draft_preview, filing.pk))


def filing_pdf(filing: Filing) -> bytes:
    """The PDF to hand out: the frozen bytes once submitted, a fresh DRAFT rendering before."""
    if filing.is_frozen:
        return bytes(filing.pdf)
    from licensing import pdf

    return pdf.render_draft(filings.snapshot(filing))


@transaction.atomic
def filing_submit(*, filing: Filing, actor: Actor, reason: str = "") -> Filing:
    """Freeze the filing: store the data snapshot and the PDF bytes with their SHA-256, then mark it submitted."""
    from licensing import pdf

    filing = Filing.objects.select_for_update().get(pk=filing.pk)
    if filing.is_frozen:
        raise ValidationError(
            f"This application was already submitted on {filing.submitted_at:%Y-%m-%d}; start a correction instead."
        )
    problems = filings.submission_problems(filing)
    if problems:
        raise ValidationError(problems)
    now = timezone.now()
    filing.status = FilingStatus.SUBMITTED
    filing.submitted_at, filing.submitted_by = now, actor
    filing.snapshot = filings.snapshot(filing, generated_at=now)
    filing.pdf = pdf.render_application(filing.snapshot, draft=False)
    filing.pdf_sha256 = hashlib.sha256(filing.pdf).hexdigest()
    return record_save(filing, actor=actor, reason=reason or "Submitted to the AMA")


NO_ACKNOWLEDGEMENT_REASON = (
    "Not acknowledged: give the reason the count is right although it is far below the User Proxy Model's "
    "estimate (for example: most physicians use another system for CPT). Nothing was saved."
)


@transaction.atomic
def count_acknowledge_plausibility(*, count: UserCount, actor: Actor, reason: str) -> UserCount:
    """Record that a count far below the User Proxy Model's estimate stands, who says so and why.

    The acknowledgement holds for the count's users beside the estimate as they are now (counting.acknowledged):
    a changed count or changed base metrics ask again. A blank reason writes nothing.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(NO_ACKNOWLEDGEMENT_REASON)
    if "\x00" in reason:
        raise ValidationError("The reason holds a NUL character, which cannot be stored: type it again.")
    count = UserCount.objects.select_related("application").get(pk=count.pk)
    comparison = standing.proxy_comparisons([count]).get(count.pk)
    if comparison is None or not comparison.implausible:
        raise ValidationError(
            "This count is not far below the User Proxy Model's estimate: there is nothing to acknowledge."
        )
    count.plausibility_acknowledged_users = comparison.users
    count.plausibility_acknowledged_estimate = comparison.estimate
    count.plausibility_reason = reason
    count.plausibility_acknowledged_by = actor if isinstance(actor, models.Model) else None
    count.plausibility_acknowledged_at = timezone.now()
    return record_save(
        count, actor=actor, reason=f"Plausibility warning acknowledged ({comparison.sentence()}): {reason}"
    )


def evidence_attach(
    *, evidence_file, content: bytes, name: str, actor: Actor, reason: str, max_bytes: int | None = None
):
    """Store an evidence file through Django's storage with its SHA-256, size and kind, and save its record.

    The content is checked first (licensing.evidence.check: kind by magic bytes, EVIDENCE_MAX_UPLOAD_MB): a refused
    file raises ValidationError with nothing stored; a file stored before a failed save is deleted again.
    """
    from django.conf import settings
    from django.core.files.base import ContentFile

    from licensing import evidence

    limit = settings.EVIDENCE_MAX_UPLOAD_MB * 1_000_000 if max_bytes is None else max_bytes
    kind = evidence.check(content, name=name, max_bytes=limit)
    evidence_file.original_name = name[:255]
    evidence_file.kind = kind.code
    evidence_file.size = len(content)
    evidence_file.sha256 = hashlib.sha256(content).hexdigest()
    if evidence_file.uploaded_by_id is None and isinstance(actor, models.Model):
        evidence_file.uploaded_by = actor
    evidence_file.file.save(f"{evidence_file.sha256[:16]}.{kind.code}", ContentFile(content), save=False)
    try:
        with transaction.atomic():
            return record_save(evidence_file, actor=actor, reason=reason)
    except BaseException:
        evidence_file.file.delete(save=False)
        raise


def evidence_content(evidence_file) -> bytes:
    """The stored file's bytes, after checking them against the SHA-256 recorded at upload (ValidationError if not).

    FileNotFoundError when no file is stored any more (a roster purge removed a roster's source file)."""
    if not evidence_file.file:
        raise FileNotFoundError(evidence_file.sha256)
    with evidence_file.file.open("rb") as stored:
        content = stored.read()
    if hashlib.sha256(content).hexdigest() != evidence_file.sha256:
        raise ValidationError(
            "The stored file no longer matches the SHA-256 recorded when it was attached: it is not served. "
            "Tell an administrator."
        )
    return content


def filing_verify(filing: Filing) -> bool:
    """Whether the stored PDF still has the SHA-256 recorded when it was submitted."""
    return bool(filing.pdf) and hashlib.sha256(bytes(filing.pdf)).hexdigest() == filing.pdf_sha256


@transaction.atomic
def filing_record_outcome(*, filing: Filing, status: str, ama_reference: str, actor: Actor, reason: str = "") -> Filing:
    """Record the AMA's answer to a submitted filing: accepted or rejected, with its reference."""
    if filing.status != FilingStatus.SUBMITTED or status not in (FilingStatus.ACCEPTED, FilingStatus.REJECTED):
        raise ValidationError("Only a submitted application can be marked accepted or rejected.")
    if "\x00" in ama_reference:
        raise ValidationError("The AMA reference holds a NUL character, which cannot be stored: type it again.")
    filing.status, filing.ama_reference = status, ama_reference
    return record_save(
        filing, actor=actor, reason=reason or f"AMA {FilingStatus(status).label.lower()} the application"
    )


@transaction.atomic
def filing_correct(*, filing: Filing, actor: Actor, reason: str = "") -> Filing:
    """Start a new draft that supersedes a submitted filing; the submitted one stays exactly as sent."""
    if not filing.is_frozen:
        raise ValidationError("A draft can be edited directly; corrections are for submitted applications.")
    if Filing.objects.filter(supersedes=filing).exists():
        raise ValidationError("A correction of this application already exists; edit that one.")
    correction = Filing(
        organization=filing.organization,
        license_year=filing.license_year,
        signatory_name=filing.signatory_name,
        signatory_title=filing.signatory_title,
        supersedes=filing,
    )
    record_save(correction, actor=actor, reason=reason or f"Correction of {filing.document_id}")
    correction.applications.set(filing.applications.all())
    _render_preview_ahead(correction)
    return correction


# ---------------------------------------------------------------------------------------------
# People and groups: who may do what
# ---------------------------------------------------------------------------------------------


@contextmanager
def _one_history_row(obj: models.Model, *, actor: Actor, reason: str, organization_ids=None) -> Iterator[None]:
    """The writes inside the block (fields, links) recorded as one history row of `obj`, with who and why.

    simple-history writes a row per save and per link change; a person's change made of several (groups,
    then staff status) is one change to the auditor. `organization_ids` names the organizations a person's
    row concerns instead of their memberships (licensing.audit.people).
    """
    reason = _require_reason(reason)
    new = obj.pk is None
    with transaction.atomic():
        obj.skip_history_when_saving = True  # type: ignore[attr-defined]
        try:
            yield
        finally:
            del obj.skip_history_when_saving  # type: ignore[attr-defined]
        obj._history_user = actor  # type: ignore[attr-defined]
        obj._change_reason = reason  # type: ignore[attr-defined]
        if organization_ids is not None:
            obj._audit_organization_ids = list(organization_ids)  # type: ignore[attr-defined]
        obj._audited_history.create_historical_record(obj, "+" if new else "~")  # type: ignore[attr-defined]


def person_save(*, person, actor: Actor, reason: str, groups=None, permissions=None):
    """Save a person (an account) with, when given, their groups and own permissions: one history row.

    The row says whether the password was set or reset, never the hash; it appears in the audit trail of
    every organization the person is a member of.
    """
    with _one_history_row(person, actor=actor, reason=reason):
        person.save()
        if groups is not None:
            person.groups.set(groups)
        if permissions is not None:
            person.user_permissions.set(permissions)
    access.forget()
    return person


@transaction.atomic
def person_delete(*, person, actor: Actor, reason: str) -> None:
    """Remove a person: their memberships are revoked first (each in its organization's trail), then the account."""
    organization_ids = list(person.memberships.values_list("organization_id", flat=True))
    for membership in person.memberships.select_related("user", "organization"):
        membership_revoke(membership=membership, actor=actor, reason=reason)
    person._audit_organization_ids = organization_ids
    record_delete(person, actor=actor, reason=reason)


def group_save(*, group: Group, actor: Actor, reason: str, permissions=None) -> Group:
    """Save a group with, when given, its permissions: one history row."""
    with _one_history_row(group, actor=actor, reason=reason):
        group.save()
        if permissions is not None:
            group.permissions.set(permissions)
    access.forget()
    return group


# ---------------------------------------------------------------------------------------------
# Rosters: people, their roles, and the user counts derived from them
# ---------------------------------------------------------------------------------------------

PERSON_FIELDS = ["name", "email", "npi", "entity", "country"]
# Roster lines a re-derivation reads and writes at a time (rosters_rederive).
REDERIVE_CHUNK = 5000


@transaction.atomic
def roster_record(
    *,
    roster: Roster,
    new_people: Sequence[Person],
    changed_people: Sequence[Person],
    lines: Sequence[RosterLine],
    actor: Actor,
    reason: str,
) -> UserCount | None:
    """Write an imported roster: the people it adds or corrects, the roster, its lines, and the user count of its
    application and year derived from it (roster_derive_count). All or nothing; each row with who and why.

    A directory roster (Roster.is_directory) lists who works at the organization, not an application's users: it
    derives no count (None).

    `lines` are unsaved, each with its person's id or pointing at a new person (given an id here); the caller
    (the roster import, licensing.resources.rosters) has validated every value.
    """
    organization_id = roster.application.organization_id
    if new_people:
        record_bulk_create(
            new_people, Person, actor=actor, reason=reason, organization_ids=[organization_id] * len(new_people)
        )
    if changed_people:
        record_bulk_update(changed_people, Person, PERSON_FIELDS, actor=actor, reason=reason)
    record_save(roster, actor=actor, reason=reason)
    for line in lines:
        line.roster = roster
        if line.person_id is None:
            # A person added just now: their id was given by the insert above.
            line.person_id = line.person.pk
    record_bulk_create(lines, RosterLine, actor=actor, reason=reason, organization_ids=[organization_id] * len(lines))
    if roster.is_directory:
        return None
    return roster_derive_count(roster=roster, actor=actor, reason=reason)


def _later(one: Roster, other: Roster) -> bool:
    return (one.taken_on, one.pk) > (other.taken_on, other.pk)


@transaction.atomic
def roster_derive_count(*, roster: Roster, actor: Actor, reason: str) -> UserCount:
    """Create or update the counted user count of the roster's application and year from the roster's lines.

    Each person once, under the first kind that applies (licensing.counting.tally_roster); people whose roles are
    mapped as not users are kept as `excluded_users`. A count derived from a later roster of the same year is left
    as it is (and returned): the latest roster is the count's evidence. A proxy or typed count becomes counted.
    """
    tally = reconciliation_selectors.roster_tally(roster.pk)
    count = (
        UserCount.objects.select_for_update(of=("self",))
        .select_related("roster", "application")
        .filter(application_id=roster.application_id, license_year=roster.license_year)
        .first()
    )
    if count is not None and count.roster is not None and count.roster.pk != roster.pk and _later(count.roster, roster):
        return count
    if count is None:
        count = UserCount(application=roster.application, license_year=roster.license_year)
    explanation = counting.roster_explanation(taken_on=roster.taken_on, source=roster.source, tally=tally)
    derived = {
        "method": CountMethod.COUNTED,
        "direct_users": tally.direct,
        "program_users": tally.program,
        "output_users": tally.output,
        "excluded_users": tally.excluded,
        "base_metric": "",
        "metric_value": None,
        "metric_source": "",
        "factor": None,
        "roster_id": roster.pk,
        "counted_on": roster.taken_on,
        "counted_by": roster.imported_by_name,
        "evidence": (
            f"{explanation}. File {roster.file_name}, SHA-256 {roster.file_sha256}"
            + (f", imported by {roster.imported_by_name}." if roster.imported_by_name else ".")
        ),
        "needs_review": False,
    }
    if count.pk is not None and all(getattr(count, name) == value for name, value in derived.items()):
        return count
    for name, value in derived.items():
        setattr(count, name, value)
    count.roster = roster
    return record_save(count, actor=actor, reason=reason)


@transaction.atomic
def role_mapping_save(
    *, mapping: RoleMapping, actor: Actor, reason: str, validate: bool = True, expected_version: int | None = None
) -> RoleMapping:
    """Save a role mapping, then apply it to every roster of its application: the lines with that role take the
    new kind and the counts derived from those rosters follow (rosters_rederive), all with the same reason."""
    record_save(mapping, actor=actor, reason=reason, validate=validate, expected_version=expected_version)
    rosters_rederive(
        application=mapping.application, actor=actor, reason=f"Role mapping '{mapping.role}' changed: {reason}"
    )
    return mapping


@transaction.atomic
def rosters_rederive(*, application: Application, actor: Actor, reason: str) -> list[UserCount]:
    """Apply the application's role mapping to the lines of all its rosters and re-derive the counts they back.

    Lines whose role has no mapping keep their kind. Only lines whose kind changes are written (one history row
    each); a count is saved only when its figures change.
    """
    kinds = {role_key(mapping.role): mapping.kind for mapping in application.role_mappings.all()}
    lines = RosterLine.objects.filter(roster__application=application)
    # The database lists each role as written with the kinds its lines have; only lines whose kind changes are read.
    moved = Q(pk__in=[])
    for role, kind in lines.order_by().values_list("role", "kind").distinct():
        wanted = kinds.get(role_key(role))
        if wanted is not None and wanted != kind:
            moved |= Q(role=role, kind=kind)
    # Read and written a chunk at a time (the ids first, so no read is open while the lines change): a mapping can
    # move the lines of every roster of a large application.
    ids = list(lines.filter(moved).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), REDERIVE_CHUNK):
        chunk = RosterLine.objects.filter(pk__in=ids[start : start + REDERIVE_CHUNK])
        changed = list(chunk.only("pk", "role", "kind", "roster_id"))
        for line in changed:
            line.kind = kinds[role_key(line.role)]
        record_bulk_update(changed, RosterLine, ["kind"], actor=actor, reason=reason)
    rosters = Roster.objects.filter(counts__isnull=False, application=application).select_related("application")
    return [roster_derive_count(roster=roster, actor=actor, reason=reason) for roster in rosters.distinct()]


@transaction.atomic
def finding_accept(
    *, organization: Organization, license_year: int, kind: str, identifier: str, actor: AbstractBaseUser, reason: str
) -> FindingAcceptance:
    """Accept one finding of the organization's reconciliation for the year (licensing.reconciliation), with why.

    Only a finding the rosters show now can be accepted, once; the person must manage the organization. A blank
    reason, an unknown finding or a second acceptance is refused with a ValidationError in plain words.
    """
    if not access.can(actor, organization, access.CHANGE):
        raise PermissionDenied("Accepting a finding needs an officer's access to this organization.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why this finding is accepted (e.g. 'Contracted coder, covered by our license').")
    if kind not in FindingKind.values:
        raise ValidationError("Choose one of the findings listed on the reconciliation page.")
    key = identifier_key(identifier)
    reconciliation = reconciliation_selectors.reconcile(organization, license_year, user=actor)
    if key not in reconciliation_selectors.finding_keys(reconciliation).get(kind, []):
        raise ValidationError(
            f"{FindingKind(kind).label}: no such finding for {identifier} in {license_year} any more; reload the page."
        )
    earlier = FindingAcceptance.objects.filter(
        organization=organization, license_year=license_year, kind=kind, identifier=key
    ).first()
    if earlier is not None:
        raise ValidationError(
            f"This finding was accepted already by {earlier.accepted_by_name or 'the system'} on "
            f"{earlier.accepted_at:%Y-%m-%d}: {earlier.reason}"
        )
    acceptance = FindingAcceptance(
        organization=organization,
        license_year=license_year,
        kind=kind,
        identifier=key,
        person_name=reconciliation_selectors.person_name(reconciliation, key)[:200],
        reason=reason,
        accepted_by=actor,
        accepted_by_name=actor.get_username() if actor is not None else "",
        accepted_at=timezone.now(),
    )
    return record_save(acceptance, actor=actor, reason=f"{FindingKind(kind).label} accepted: {reason}")


@transaction.atomic
def finding_withdraw(*, acceptance: FindingAcceptance, actor: AbstractBaseUser, reason: str) -> None:
    """Withdraw an accepted finding, with why: the acceptance is deleted (its history keeps it, the reason on the
    deletion) and the finding is listed as open again on the reconciliation page."""
    if not access.can(actor, acceptance.organization, access.CHANGE):
        raise PermissionDenied("Withdrawing an acceptance needs an officer's access to this organization.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the acceptance is withdrawn (e.g. 'The coder's contract ended').")
    record_delete(acceptance, actor=actor, reason=f"{acceptance.get_kind_display()} acceptance withdrawn: {reason}")


# ---------------------------------------------------------------------------------------------
# Evidence files: deleting them, and a roster's source file
# ---------------------------------------------------------------------------------------------


def _delete_stored_after_commit(files: Iterable) -> None:
    # Only once the rows naming them are gone for good: a rolled-back deletion keeps its file.
    names = [(item.storage, item.name) for item in files if item]
    if names:
        transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])


@transaction.atomic
def evidence_delete(*, evidence_file, actor: Actor, reason: str) -> None:
    """Delete an evidence record (its history records who and why) and, once that commits, its stored file."""
    if actor is not None and not access.can(actor, evidence_file.organization, access.CHANGE):
        raise PermissionDenied("Deleting evidence needs an officer's access to the organization it belongs to.")
    stored = evidence_file.file
    record_delete(evidence_file, actor=actor, reason=reason)
    _delete_stored_after_commit([stored])


def keep_roster_source(*, roster: Roster, content: bytes, name: str, actor: Actor, reason: str, dry_run: bool = False):
    """Keep a roster's imported file as the roster's evidence (EvidenceFile), checked and stored as any evidence is.

    Called by the roster import once the roster is written, in its transaction. The import's own size limit has
    let the file in, so the evidence limit does not refuse it; the kind is told by content as for any upload. A
    preview (`dry_run`, rolled back on purpose) or a file not at hand stores nothing: storage is not rolled back.
    A preview checks the content all the same, so a file the confirmation would refuse is refused at the preview.
    """
    from licensing import evidence
    from licensing.models import EvidenceFile

    if not content:
        return None
    if dry_run:
        evidence.check(content, name=name, max_bytes=max(len(content), 1))
        return None

    item = EvidenceFile(
        organization_id=roster.application.organization_id, roster=roster, title=f"Source file of {roster}"[:200]
    )
    return evidence_attach(
        evidence_file=item, content=content, name=name, actor=actor, reason=reason, max_bytes=max(len(content), 1)
    )


# ---------------------------------------------------------------------------------------------
# Retention: purging the people of old rosters
# ---------------------------------------------------------------------------------------------


@dataclass
class RosterPurgePlan:
    """What a purge removes (or removed) for one organization: its rosters taken before the date, and their people
    who are on no later roster."""

    organization: Organization
    taken_before: datetime.date
    rosters: list[Roster]
    people: list[Person]
    purge: RosterPurge | None = None

    def summary(self) -> str:
        done = "purged" if self.purge is not None else "would be purged"
        return (
            f"{self.organization}: {len(self.people)} {'person' if len(self.people) == 1 else 'people'} of "
            f"{_number(len(self.rosters), 'roster')} taken before {self.taken_before:%Y-%m-%d} {done}."
        )


def retention_cutoff(*, today: datetime.date, years: int) -> datetime.date:
    """The first day a roster is young enough to keep: `years` before `today` (28 February for a 29th)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@transaction.atomic
def roster_people_purge(
    *,
    actor: Actor,
    older_than_years: int,
    rosters=None,
    today: datetime.date | None = None,
    dry_run: bool = False,
) -> list[RosterPurgePlan]:
    """Purge the people of the rosters taken more than `older_than_years` ago (of `rosters`, when given).

    Administrators only (or the system). Each person on such a roster and on no later one loses their identifier,
    name, e-mail and NPI, in their row and in every history row written before (licensing.audit.purging); the
    rosters' source files lose their bytes (their SHA-256 stays) and the imports their stored upload and preview.
    The rosters, their lines and the counts derived from them keep every figure. One RosterPurge per organization
    records who, when, which rosters, how many people and the digests of the chains before and after. Rosters
    already purged are skipped, so a second run purges nothing. `dry_run` says what would go and writes nothing.
    """
    from licensing.audit import purging
    from licensing.models import DataImport, EvidenceFile

    if actor is not None and not access.sees_everything(actor):
        raise PermissionDenied("Only an administrator can purge the people of old rosters.")
    if older_than_years < 1:
        raise ValidationError(f"The retention period is {older_than_years} years: give 1 year or more.")
    today = today or timezone.localdate()
    cutoff = retention_cutoff(today=today, years=older_than_years)
    chosen = (Roster.objects.all() if rosters is None else rosters).filter(
        taken_on__lt=cutoff, people_purged_at__isnull=True
    )
    old = list(chosen.select_related("application__organization").order_by("application__organization", "taken_on"))
    already = PurgedChain.objects.filter(record_type="licensing.person", object_id=OuterRef("pk"))
    people = (
        Person.objects.filter(roster_lines__roster__in=[roster.pk for roster in old])
        .exclude(roster_lines__roster__taken_on__gte=cutoff)
        .exclude(models.Exists(already))
        .distinct()
        .order_by("pk")
    )
    on_rosters: dict[int, set[int]] = {}
    for person_id, roster_id in RosterLine.objects.filter(
        roster__in=[roster.pk for roster in old], person__in=people
    ).values_list("person_id", "roster_id"):
        on_rosters.setdefault(roster_id, set()).add(person_id)
    everyone = {person.pk: person for person in people}
    plans: dict[int, RosterPurgePlan] = {}
    placed: set[int] = set()
    for roster in old:
        organization = roster.application.organization
        plan = plans.setdefault(organization.pk, RosterPurgePlan(organization, cutoff, [], []))
        plan.rosters.append(roster)
        for person_id in sorted(on_rosters.get(roster.pk, set()) - placed):
            plan.people.append(everyone[person_id])
            placed.add(person_id)
    if dry_run:
        return list(plans.values())
    reason = (
        f"Retention purge: the people of rosters taken before {cutoff:%Y-%m-%d} "
        f"(older than {older_than_years} years), as the personal-data rule asks"
    )
    now = timezone.now()
    for plan in plans.values():
        acceptances, withdrawn = _purged_acceptances(plan)
        heads = purging.heads_of(Person, [person.pk for person in plan.people])
        accepted_heads = purging.heads_of(FindingAcceptance, [acceptance.pk for acceptance in acceptances] + withdrawn)
        for person in plan.people:
            for name, value in purging.values_for(purging.PERSON, person.pk).items():
                setattr(person, name, value)
        if plan.people:
            record_bulk_update(plan.people, Person, list(purging.PERSON), actor=actor, reason=reason)
        chains = purging.redact(Person, heads, purging.expressions_for(purging.PERSON, Person._meta.pk.attname))
        for acceptance in acceptances:
            for name, value in purging.values_for(purging.ACCEPTANCE, acceptance.pk).items():
                setattr(acceptance, name, value)
        if acceptances:
            record_bulk_update(acceptances, FindingAcceptance, list(purging.ACCEPTANCE), actor=actor, reason=reason)
        # Withdrawn acceptances have only history rows: redacted there, their chains recorded as the live ones'.
        redaction = purging.expressions_for(purging.ACCEPTANCE, FindingAcceptance._meta.pk.attname)
        chains += purging.redact(FindingAcceptance, accepted_heads, redaction)
        _purge_roster_files(plan.rosters, actor=actor, reason=reason, evidence=EvidenceFile, imports=DataImport)
        for roster in plan.rosters:
            roster.people_purged_at = now
        record_bulk_update(plan.rosters, Roster, ["people_purged_at"], actor=actor, reason=reason)
        before, after = purging.digests_of(chains)
        plan.purge = record_save(
            RosterPurge(
                organization=plan.organization,
                purged_at=now,
                purged_by=actor if isinstance(actor, models.Model) else None,
                purged_by_name=actor.get_username() if actor is not None else "",
                retention_years=older_than_years,
                taken_before=cutoff,
                rosters="\n".join(f"#{roster.pk} {roster}: {roster.application}" for roster in plan.rosters),
                roster_count=len(plan.rosters),
                people_purged=len(plan.people),
                chains_purged=len(chains),
                digest_before=before,
                digest_after=after,
            ),
            actor=actor,
            reason=reason,
        )
        purging.keep(chains, purge_id=plan.purge.pk)
    return list(plans.values())


def _purged_acceptances(plan: RosterPurgePlan) -> tuple[list[FindingAcceptance], list[int]]:
    """The accepted findings that name the plan's people (by identifier, in their organization or above it, in the
    purged rosters' years or before): they carry the person's name too. Live ones, and the ids of withdrawn ones,
    found by their history rows (those still hold the name)."""
    if not plan.people:
        return [], []
    keys = {identifier_key(person.identifier) for person in plan.people}
    tree = {plan.organization.pk}
    node = plan.organization
    while node.parent_id is not None and node.parent_id not in tree:
        tree.add(node.parent_id)
        node = Organization.objects.only("pk", "parent_id").get(pk=node.parent_id)
    latest = max(roster.license_year for roster in plan.rosters)
    naming = {"organization__in": tree, "identifier__in": keys, "license_year__lte": latest}
    live = list(FindingAcceptance.objects.filter(**naming))
    withdrawn = (
        FindingAcceptance.history.model.objects.filter(**naming)
        .exclude(id__in=FindingAcceptance.objects.values("pk"))
        .order_by()  # the history's default ordering would make DISTINCT keep one row per history row
        .values_list("id", flat=True)
        .distinct()
    )
    return live, sorted(withdrawn)


def _purge_roster_files(rosters: list[Roster], *, actor: Actor, reason: str, evidence, imports) -> None:
    """The rosters' source files and the imports' stored uploads list the people: their bytes go, their SHA-256
    stays (and the previews' reports, which quote the lines, are emptied)."""
    files = list(evidence.objects.filter(roster__in=rosters).exclude(file=""))
    import_ids = {roster.data_import_id for roster in rosters if roster.data_import_id}
    loads = list(
        imports.objects.filter(Q(pk__in=import_ids) | Q(confirmations__in=import_ids)).exclude(upload="", report={})
    )
    stored = [item.file for item in files] + [load.upload for load in loads]
    _delete_stored_after_commit([file for file in stored if file])
    for item in files:
        # The FieldFile keeps its storage; clearing its name keeps the SHA-256 and size on the record.
        item.file.name = ""
    for load in loads:
        load.upload.name = ""
        load.report = {}
    if files:
        record_bulk_update(files, evidence, ["file"], actor=actor, reason=reason)
    if loads:
        record_bulk_update(loads, imports, ["upload", "report"], actor=actor, reason=reason)
