"""People and rosters: who uses each application, as its access list or directory exports them.

A roster is one export of one application's users (an EHR access list, a billing system's user report) taken on
a date; its lines name the people and the role each holds there. Each application's role mapping says how a
role counts under the AMA user definition, and the roster's user count is derived from its lines
(licensing.counting.tally_roster, licensing.services.roster_derive_count).
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import UserKind
from licensing.identifiers import HOME_COUNTRY, DigitsField, validate_country, validate_npi
from licensing.models import ranges
from licensing.models.applications import Application
from licensing.models.imports import DataImport
from licensing.models.organizations import Organization
from licensing.models.years import LICENSE_YEAR_VALIDATORS, license_year_constraint
from licensing.ownership import OwnedBy
from licensing.reconciliation import looks_shared

__all__ = ["Person", "RoleMapping", "Roster", "RosterLine", "UserKind", "role_key"]


def derived_fields_following(model, fields) -> list[str]:
    """The stored derived fields of `model` (its DERIVED_FIELDS) that follow any of `fields`: written with them."""
    written = set(fields)
    return [name for name, sources in getattr(model, "DERIVED_FIELDS", {}).items() if written & set(sources)]


def role_key(role: str) -> str:
    """A role as compared: "Front  desk" and "front desk" are the same role (spacing and case do not matter)."""
    return " ".join(str(role or "").split()).casefold()


class Person(models.Model):
    """A member of an organization's staff as its rosters name them: one row per stable identifier.

    Only what counting and reconciling need is kept (the issue's data-minimising rule): the identifier the
    source systems share (employee id or directory username), name, e-mail, NPI where the person has one, the
    legal entity that employs them and the country they work from.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="people")
    identifier = models.CharField(
        max_length=100, help_text="The employee id or directory username the source systems export, e.g. E10423."
    )
    name = models.CharField(max_length=200)
    email = models.EmailField("e-mail", blank=True)
    npi = DigitsField("NPI", max_length=10, blank=True, validators=[validate_npi], help_text="Type 1 (individual) NPI.")
    entity = models.ForeignKey(
        Organization,
        verbose_name="employing legal entity",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="employed_people",
        help_text="The legal entity that employs the person, when it is not the organization itself.",
    )
    country = models.CharField(
        max_length=2,
        default=HOME_COUNTRY,
        validators=[validate_country],
        help_text="Where the person works from, as a two-letter ISO code (US, IN, PH ...).",
    )
    # Whether the identifier or name reads as a shared or generic login (reconciliation.looks_shared), kept
    # so the reconciliation page reads the few such people rather than testing every person on each request.
    # Derived from two tracked fields on every write (refresh_derived), so the history leaves it out.
    looks_shared = models.BooleanField(default=False, editable=False)

    history = AuditedHistoricalRecords(excluded_fields=["looks_shared"])
    ownership = OwnedBy("organization", label="{name} ({identifier})", reason_required=True)

    # Stored values derived from other fields: each, and the fields it follows.
    DERIVED_FIELDS = {"looks_shared": ("identifier", "name")}

    class Meta:
        verbose_name_plural = "people"
        ordering = ["organization", "name", "identifier"]
        indexes = [
            models.Index(fields=["country", "organization"]),
            models.Index(fields=["organization", "name"]),
            # The few shared-looking people of an organization, for the reconciliation's finding.
            models.Index(fields=["organization"], condition=models.Q(looks_shared=True), name="person_looks_shared"),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("identifier"),
                "organization",
                name="person_one_per_identifier",
                violation_error_message="This organization already has a person with this identifier; edit that one.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.identifier})"

    def save(self, *args, **kwargs):
        # Every save, through whichever path, stores the values that follow the identifier and name.
        self.refresh_derived()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *derived_fields_following(type(self), update_fields)}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("admin:licensing_person_change", args=[self.pk])

    def refresh_derived(self) -> None:
        """Set the stored values derived from the others (DERIVED_FIELDS) from what the record now holds."""
        self.looks_shared = looks_shared(self.identifier, self.name)


class RoleMapping(models.Model):
    """How one role, as an application exports it, counts under the AMA user definition.

    Applied to every roster of the application: changing a mapping changes the kind of every line with that
    role and re-derives the user counts of those rosters (licensing.services.role_mapping_save).
    """

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="role_mappings")
    role = models.CharField("role as exported", max_length=200, help_text="As the roster file writes it.")
    kind = models.CharField("counts as", max_length=8, choices=UserKind.choices)
    explanation = models.CharField(
        max_length=300,
        blank=True,
        help_text="Why the role counts this way; required for 'not a user', e.g. 'IT service account, no person'.",
    )

    history = AuditedHistoricalRecords()
    ownership = OwnedBy("application__organization", label="{application}: {role}", reason_required=True)

    class Meta:
        ordering = ["application", "role"]
        indexes = [models.Index(fields=["kind", "application"])]
        constraints = [
            models.UniqueConstraint(
                Lower("role"),
                "application",
                name="role_mapping_one_per_role",
                violation_error_message="This application already maps this role; edit that mapping instead.",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind=UserKind.NOT_A_USER) | ~models.Q(explanation=""),
                name="role_mapping_not_a_user_explained",
                violation_error_message="Say why people with this role are not users, e.g. 'IT service account'.",
            ),
        ]

    def __str__(self):
        return f"{self.role}: {self.get_kind_display()}"

    def clean(self):
        # Roles are compared by role_key; stored with single spaces, so the unique constraint agrees with it.
        self.role = " ".join(self.role.split())
        self.explanation = self.explanation.strip()


class Roster(models.Model):
    """One export of an application's users, taken on a date from a named source, as imported.

    The file's SHA-256 and who imported it are kept, so the count derived from it can be traced to the file.
    """

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="rosters")
    license_year = models.PositiveSmallIntegerField(validators=LICENSE_YEAR_VALIDATORS)
    taken_on = models.DateField(validators=ranges.dates_in_service("Taken on"), help_text="When the list was exported.")
    source = models.CharField(max_length=200, help_text="Where the list comes from, e.g. 'Epic access list'.")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField("file SHA-256", max_length=64)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so deleting an account never blanks who imported the roster.
    imported_by_name = models.CharField("imported by", max_length=150, blank=True)
    data_import = models.ForeignKey(
        DataImport, on_delete=models.PROTECT, null=True, blank=True, related_name="rosters", verbose_name="import"
    )
    notes = models.TextField(blank=True)
    # Reconciliation (licensing.reconciliation): people on an application's roster but not on the year's directory
    # roster of the organization tree are listed as having left.
    is_directory = models.BooleanField(
        "directory roster",
        default=False,
        help_text="The organization's staff directory or HR list of who works there: reconciliation lists the "
        "people on application rosters of the same year who are not on it.",
    )
    # Set by the retention purge (services.roster_people_purge): the people are gone, the totals and SHA-256 stay.
    people_purged_at = models.DateTimeField(
        "people purged on",
        null=True,
        blank=True,
        editable=False,
        help_text="When the retention purge removed "
        "the people's identifiers, names, e-mails and NPIs; the lines, totals and file SHA-256 remain.",
    )

    history = AuditedHistoricalRecords()
    ownership = OwnedBy(
        "application__organization", label="Roster of {taken_on} from {source}: {application}", reason_required=True
    )

    class Meta:
        ordering = ["-taken_on", "-pk"]
        indexes = [
            models.Index(fields=["license_year", "application"]),
            models.Index(fields=["application", "-taken_on"]),
            models.Index(fields=["file_sha256"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "license_year", "taken_on", "source"],
                name="roster_one_per_source_and_date",
                violation_error_message="This application already has a roster from this source taken on this date.",
            ),
            license_year_constraint("roster"),
        ]

    def __str__(self):
        return f"Roster of {self.taken_on:%Y-%m-%d} from {self.source}"

    def get_absolute_url(self):
        return reverse("admin:licensing_roster_change", args=[self.pk])


class RosterLine(models.Model):
    """One line of a roster: the person, their role as exported, and the AMA user kind the mapping gives it."""

    roster = models.ForeignKey(Roster, on_delete=models.PROTECT, related_name="lines")
    line = models.PositiveIntegerField("line of the file")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="roster_lines")
    role = models.CharField("role as exported", max_length=200)
    kind = models.CharField("counts as", max_length=8, choices=UserKind.choices)

    history = AuditedHistoricalRecords()
    # Written by roster imports and re-derived from the role mapping; nobody edits a line by hand.
    ownership = OwnedBy("roster__application__organization", label="Line {line} ({role})", officers_may=["add"])

    class Meta:
        ordering = ["roster", "line"]
        indexes = [
            models.Index(fields=["roster", "kind"]),
            models.Index(fields=["roster", "role"]),
            # Each person's lines of a roster: the tally (first kind per person), the people per roster and the
            # reconciliation's "is a user on one of these rosters" read them by roster and person.
            models.Index(fields=["roster", "person", "kind"], name="rosterline_roster_person"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["roster", "line"],
                name="roster_line_one_per_line",
                violation_error_message="The roster already has this line.",
            ),
        ]

    def __str__(self):
        return f"Line {self.line}: {self.role}"
