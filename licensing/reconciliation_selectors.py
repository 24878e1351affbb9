"""Reads for reconciling an organization's rosters across its applications (the rules: licensing.reconciliation).

Everything is read in bulk and paged: an organization tree's rosters can name 30,000 people on 200,000 lines, so
the people and the findings are listed a page at a time, each page in a fixed number of queries whatever its size.

Which rosters: for each application of the organization and its affiliates (those the person may see), its latest
roster of the year (as the count derived from rosters uses the latest, licensing.services.roster_derive_count); the
directory roster is the latest roster of the year marked as the directory (Roster.is_directory). The directory is
the reference list, not an application's users: it is left out of "the applications they use" and the findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, Exists, F, IntegerField, Min, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Lower

from licensing import access, counting
from licensing.choices import UserKind
from licensing.identifiers import HOME_COUNTRY
from licensing.models import Organization
from licensing.models.reconciliation import FindingAcceptance
from licensing.models.rosters import Person, Roster, RosterLine
from licensing.reconciliation import FindingKind, identifier_key

PAGE_SIZE = 100


@dataclass(frozen=True)
class Reconciliation:
    """One organization tree's rosters for one year, as reconciliation reads them."""

    organization: Organization
    license_year: int
    organizations: list[Organization]
    rosters: list[Roster]
    directory: Roster | None

    @property
    def roster_ids(self) -> list[int]:
        return [roster.pk for roster in self.rosters]


@dataclass
class Use:
    """One roster line of a person as the page shows it."""

    application: str
    application_organization_id: int
    application_organization: str
    role: str
    kind: str
    entity_id: int
    entity: str
    country: str


@dataclass
class PersonRow:
    """A person of the organization tree (all the Person records with this identifier) and their roster lines."""

    key: str
    identifier: str = ""
    name: str = ""
    uses: list[Use] = field(default_factory=list)
    in_directory: bool | None = None

    @property
    def applications(self) -> list[str]:
        return sorted({use.application for use in self.uses})

    @property
    def entities(self) -> list[str]:
        return sorted({use.entity for use in self.uses})

    @property
    def countries(self) -> list[str]:
        return sorted({use.country for use in self.uses})

    @property
    def other_entity_uses(self) -> list[Use]:
        return [use for use in self.uses if use.entity_id != use.application_organization_id]

    def roles_in(self, application: str) -> list[str]:
        return sorted({use.role for use in self.uses if use.application == application})


def reconcile(organization: Organization, license_year: int, *, user: object) -> Reconciliation:
    """The organization, its affiliates and theirs that `user` may see, and their rosters of the year (2 queries)."""
    tree = access.restrict(
        Organization.objects.filter(Q(pk=organization.pk) | Q(parent=organization) | Q(parent__parent=organization)),
        user,
    ).order_by("name", "pk")
    organizations = list(tree)
    rosters = access.restrict(
        Roster.objects.filter(application__organization__in=[o.pk for o in organizations], license_year=license_year),
        user,
    ).select_related("application__organization")
    latest: dict[int, Roster] = {}
    directory = None
    for roster in rosters.order_by("-taken_on", "-pk"):
        if roster.is_directory:
            directory = directory or roster
        else:
            latest.setdefault(roster.application_id, roster)
    return Reconciliation(
        organization=organization,
        license_year=license_year,
        organizations=organizations,
        rosters=sorted(latest.values(), key=lambda r: (r.application.name.casefold(), r.application_id)),
        directory=directory,
    )


def _lines(roster_ids: Iterable[int]) -> QuerySet[RosterLine]:
    return RosterLine.objects.filter(roster_id__in=list(roster_ids)).annotate(key=Lower("person__identifier"))


def _keys(lines: QuerySet[RosterLine]) -> QuerySet[RosterLine]:
    return lines.order_by("key").values_list("key", flat=True).distinct()  # type: ignore[return-value]


@dataclass(frozen=True)
class Totals:
    people: int
    users: int
    per_roster: dict[int, int]


@dataclass(frozen=True)
class Overview:
    """Everything the page lists, read in one pass over the lines: every person's key in order, the totals and the
    people each finding names (by identifier, lower case, in order)."""

    keys: list[str]
    totals: Totals
    found: dict[str, list[str]]


def overview(reconciliation: Reconciliation) -> Overview:
    """The people, totals and findings of the year's rosters (3 queries, whatever the number of people).

    One grouped query gives each person (by identifier) with, counted over their lines that make them a user, the
    lines at another legal entity, outside the US and missing from the directory; then the people of each roster,
    and the shared-looking accounts. Only lines that make a person a user raise a finding: a role mapped as not a
    user (a service account) is out of the count already, so it raises no question for the AMA.
    """
    user = ~Q(kind=UserKind.NOT_A_USER)
    application_organization = F("roster__application__organization_id")
    # The employer is the person's entity, or their organization when none is named (Coalesce, written out).
    elsewhere = (Q(person__entity_id__isnull=False) & ~Q(person__entity_id=application_organization)) | (
        Q(person__entity_id__isnull=True) & ~Q(person__organization_id=application_organization)
    )
    flags = {
        "users": Count("pk", filter=user),
        FindingKind.OTHER_ENTITY: Count("pk", filter=user & elsewhere),
        FindingKind.OUTSIDE_US: Count("pk", filter=user & ~Q(person__country=HOME_COUNTRY)),
    }
    if reconciliation.directory is not None:
        listed = _lines([reconciliation.directory.pk]).values("key")
        flags[FindingKind.LEFT] = Count("pk", filter=user & ~Q(key__in=listed))
    per_person = (
        _lines(reconciliation.roster_ids).order_by().values("key").annotate(**flags).order_by("key")
    ).values_list("key", *flags)
    keys: list[str] = []
    found: dict[str, list[str]] = {kind: [] for kind in FindingKind.values}
    users = 0
    finding_kinds = list(flags)[1:]
    for key, as_user, *counted in per_person:
        keys.append(key)
        users += as_user > 0
        for kind, lines in zip(finding_kinds, counted, strict=True):
            if lines:
                found[kind].append(key)
    found[FindingKind.SHARED_ACCOUNT] = _shared_accounts(reconciliation)
    # Within one roster every person is one Person (unique by identifier in the application's organization), so
    # distinct ids count its people without joining the people table.
    per_roster = dict(
        RosterLine.objects.filter(roster_id__in=reconciliation.roster_ids)
        .order_by()
        .values("roster_id")
        .annotate(people=Count("person_id", distinct=True))
        .values_list("roster_id", "people")
    )
    return Overview(keys=keys, totals=Totals(people=len(keys), users=users, per_roster=per_roster), found=found)


def totals(reconciliation: Reconciliation) -> Totals:
    """Distinct people across the tree, those a user under (a)-(c) somewhere, and the people of each roster."""
    return overview(reconciliation).totals


def finding_keys(reconciliation: Reconciliation) -> dict[str, list[str]]:
    """The people each finding names, by identifier (lower case), in order (overview)."""
    return overview(reconciliation).found


def _shared_accounts(reconciliation: Reconciliation) -> list[str]:
    """The people whose identifier or name looks shared (their stored mark, Person.looks_shared, read by its partial
    index) and who are users on one of the rosters."""
    lines = _lines(reconciliation.roster_ids).exclude(kind=UserKind.NOT_A_USER)
    marked = Person.objects.filter(
        Exists(lines.order_by().filter(person_id=OuterRef("pk"))),
        looks_shared=True,
        organization__in=[o.pk for o in reconciliation.organizations],
    )
    return sorted({identifier_key(identifier) for identifier in marked.order_by().values_list("identifier", flat=True)})


def acceptances(reconciliation: Reconciliation) -> dict[tuple[str, str], FindingAcceptance]:
    """The organization's accepted findings of the year, by (kind, identifier)."""
    rows = FindingAcceptance.objects.filter(
        organization=reconciliation.organization, license_year=reconciliation.license_year
    )
    return {(row.kind, row.identifier): row for row in rows}


def employer_of_line(attribute: str = "id") -> Coalesce:
    """The legal entity that employs a roster line's person: the entity named on the roster, else the person's
    organization (the filing's "users at other legal entities" compares it with the application's owner)."""
    return Coalesce(f"person__entity__{attribute}", f"person__organization__{attribute}")


def page_of(keys: Sequence[str] | QuerySet[RosterLine], number: object) -> Page:  # type: ignore[type-arg]
    return Paginator(keys, PAGE_SIZE).get_page(number)


def people(reconciliation: Reconciliation, keys: Sequence[str]) -> list[PersonRow]:
    """The people named by `keys`, each with their lines on the year's application rosters (2 queries)."""
    rows = {key: PersonRow(key=key) for key in keys}
    shown_pk: dict[str, int] = {}
    named = _people_named(reconciliation, keys)
    # Values, not records: a page of 200 people reads about a thousand lines, seven records each.
    lines = (
        _lines(reconciliation.roster_ids)
        .filter(person__in=named)
        .annotate(
            employer_id=employer_of_line(),
            employer=employer_of_line("name"),
        )
        .order_by("key", "roster__application__name", "line")
        .values_list(
            "key",
            "person_id",
            "person__identifier",
            "person__name",
            "person__country",
            "employer_id",
            "employer",
            "roster__application__name",
            "roster__application__organization_id",
            "roster__application__organization__name",
            "role",
            "kind",
        )
    )
    for key, person_id, identifier, name, country, employer_id, employer, *application, role, kind in lines:
        row = rows[key]
        # Shown as the person recorded first spells it (the same on every page).
        if not row.identifier or person_id < shown_pk[key]:
            row.identifier, row.name = identifier, name
            shown_pk[key] = person_id
        application_name, application_organization_id, application_organization = application
        row.uses.append(
            Use(
                application=application_name,
                application_organization_id=application_organization_id,
                application_organization=application_organization,
                role=role,
                kind=kind,
                entity_id=employer_id,
                entity=employer,
                country=country,
            )
        )
    if reconciliation.directory is not None:
        listed = set(_keys(_lines([reconciliation.directory.pk]).filter(person__in=named)))
        for row in rows.values():
            row.in_directory = row.key in listed
    return [rows[key] for key in keys]


def _people_named(reconciliation: Reconciliation, keys: Sequence[str]) -> QuerySet[Person]:
    """The Person records of the tree with these identifiers: found by the people's (identifier, organization)
    index, so that only their lines are read, not every line's person compared."""
    return (
        Person.objects.annotate(key=Lower("identifier"))
        .filter(key__in=list(keys), organization__in=[o.pk for o in reconciliation.organizations])
        .values("pk")
    )


def person_name(reconciliation: Reconciliation, key: str) -> str:
    line = _lines(reconciliation.roster_ids).filter(key=key).select_related("person").order_by("pk").first()
    return line.person.name if line is not None else ""


def other_entities_by_application(application_ids: Sequence[int], license_year: int) -> dict[int, list[str]]:
    """For each application, the other legal entities its latest roster of the year names as employers of its
    people (the filing's "users at other legal entities"); applications without a roster are left out (3 queries).
    """
    latest: dict[int, int] = {}
    rosters = Roster.objects.filter(
        application_id__in=list(application_ids), license_year=license_year, is_directory=False
    )
    for roster_id, application_id in rosters.order_by("-taken_on", "-pk").values_list("pk", "application_id"):
        latest.setdefault(application_id, roster_id)
    found: dict[int, set[str]] = {application_id: set() for application_id in latest}
    lines = (
        RosterLine.objects.filter(roster_id__in=list(latest.values()))
        .annotate(legal_entity=employer_of_line())
        .exclude(legal_entity=F("roster__application__organization_id"))
        .exclude(kind=UserKind.NOT_A_USER)
    )
    pairs = list(lines.order_by().values_list("roster__application_id", "legal_entity").distinct())
    entities = Organization.objects.in_bulk({entity_id for _, entity_id in pairs})
    for application_id, entity_id in pairs:
        found[application_id].add(str(entities[entity_id]))
    return {application_id: sorted(names) for application_id, names in found.items()}


def roster_tally(roster_id: int) -> counting.RosterTally:
    """The roster's people by the kind they count under, each once under the first kind that applies, as
    counting.tally_roster counts them, computed by the database (one query; no line is read into Python).

    `listed_more_than_once` is left empty and `kind_of` too: the import, which has the lines in hand, names them.
    """
    rank = Case(
        *[When(kind=kind, then=Value(position)) for position, kind in enumerate(counting.KIND_ORDER)],
        output_field=IntegerField(),
    )
    per_person = RosterLine.objects.filter(roster_id=roster_id).order_by().values("person_id").annotate(rank=Min(rank))
    figures = per_person.aggregate(
        **{kind: Count("person_id", filter=Q(rank=position)) for position, kind in enumerate(counting.KIND_ORDER)}
    )
    return counting.RosterTally(
        direct=figures[UserKind.DIRECT],
        program=figures[UserKind.PROGRAM],
        output=figures[UserKind.OUTPUT],
        excluded=figures[UserKind.NOT_A_USER],
    )
