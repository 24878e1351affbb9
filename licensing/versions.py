"""Record versions: how a save finds out that someone else saved the same record after it was opened.

User counts, licenses, applications, organizations and filings carry `version`, 1 when created and one
more with every save through the audited write path (licensing.services). A page or an import remembers
the version it showed; saving with it refuses the write when the record has moved on since
(services.StaleRecord), and `edits_since` reads from history what the other person changed.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from licensing.audit import diffs

VERSION = "version"


def version_field() -> models.PositiveIntegerField:
    """The field every versioned model declares as `version` (its migration gives existing rows 1)."""
    return models.PositiveIntegerField(
        default=1,
        editable=False,
        help_text="One more with every save: a save started from an older version is refused.",
    )


def is_versioned(model) -> bool:
    return any(field.name == VERSION for field in model._meta.concrete_fields)


@dataclass(frozen=True)
class Edit:
    """One saved change by someone else: who, when, why, and each field as old -> new."""

    version: int
    person: str
    when: str
    reason: str
    action: str
    changes: list[diffs.FieldChange]

    def __str__(self) -> str:
        fields = "; ".join(f"{change.label}: {change.old} → {change.new}" for change in self.changes)
        said = f' ("{self.reason}")' if self.reason else ""
        return f"{self.person} on {self.when}{said}: {fields or 'saved with no field changed'}"


def edits_since(model, pk, version: int) -> list[Edit]:
    """What history records for the record after `version`, oldest first (history rows carry the version)."""
    history_model = model.history.model
    rows = list(
        history_model.objects.filter(**{model._meta.pk.attname: pk, f"{VERSION}__gt": version}).order_by("history_id")
    )
    described = diffs.describe(rows)
    return [
        Edit(
            version=getattr(row, VERSION),
            person=row.history_user_name or "the system",
            when=f"{timezone.localtime(row.history_date):%Y-%m-%d %H:%M}",
            reason=row.history_change_reason or "",
            action=diffs.action_label(row),
            changes=described[(history_model, row.history_id)],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Stale:
    """One record a write started from an older version of: the version it started from, the one stored now,
    and the saves in between."""

    obj: models.Model
    expected: int
    current: int
    edits: list[Edit]

    @property
    def label(self) -> str:
        return f"this {self.obj._meta.verbose_name}"

    def told(self) -> str:
        """What the other person changed, in words."""
        return " ".join(f"{edit}." for edit in self.edits) or "Its history shows no field changed."


class StaleRecord(ValidationError):
    """A write started from an older version of a record (or of several, for a bulk write) than the one stored:
    someone else saved it in between. Nothing was written; `stale` says what the others changed."""

    def __init__(self, stale: list[Stale]):
        self.stale = stale
        super().__init__(
            [
                f"Not saved: {item.label} was changed by someone else after you opened it "
                f"(version {item.expected} then, {item.current} now). {item.told()} Nothing was overwritten."
                for item in stale
            ]
        )


def check(model, expected: dict, current: dict) -> None:
    """Raise StaleRecord for the records (pk -> object) whose expected version is not the stored one."""
    stale = [
        Stale(obj, expected=version, current=current[pk], edits=edits_since(model, pk, version))
        for pk, (obj, version) in expected.items()
        if pk in current and current[pk] != version
    ]
    if stale:
        raise StaleRecord(stale)
