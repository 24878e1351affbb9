"""The compliance report: one organization (with or without its affiliates) in one license year, as CSV, XLSX or PDF.

`compliance_report` reads everything through the selectors (licensing.standing: with_affiliates, roll_up) in a
fixed number of queries, keeps only the legal entities the person may see (licensing.access), and returns plain
data: per legal entity its applications (category, coverage, users and how they were derived, license,
position, per-user price, royalty), its totals and chargemaster posting; then the grand total and what needs
action. Every amount is a Money that knows whether it rests on an estimate (projected rates or an estimated
entity fee); the writers word that as licensing.royalty does everywhere (docs/rules.md, "Estimates"): the PDF
prints "(est.)" after the amount, the CSV and XLSX keep amounts as numbers with a "<amount> basis" column
beside each saying "estimate" or "published". The writers only arrange that data: `as_csv`, `as_xlsx`
(openpyxl) and `as_pdf` (licensing.pdf, the filing's WeasyPrint machinery and fonts). Every spreadsheet cell
passes licensing.audit.exports.safe_cell.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone, translation

from licensing import access, counting, royalty, standing
from licensing.audit.exports import XLSX_TYPE, csv_chunks, safe_cell
from licensing.choices import CountMethod
from licensing.models import Organization

TEMPLATE = "licensing/pdf/report.html"
FORMATS = {"csv": "CSV", "xlsx": "XLSX", "pdf": "PDF"}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX_TYPE,
    "pdf": "application/pdf",
}
NOT_COUNTED = "not counted"


@dataclass(frozen=True)
class Money:
    """An amount (None when it cannot be computed) and whether it rests on an estimate."""

    amount: Decimal | None
    is_estimate: bool = False

    @property
    def text(self) -> str:
        """As the PDF prints it: "$1,234.50", "$1,234.50 (est.)", or "-" without an amount."""
        return royalty.dollars(self.amount, estimate=self.is_estimate)

    @property
    def basis(self) -> str:
        """What a spreadsheet's basis column says beside the number: "estimate", "published", or nothing."""
        return royalty.basis_label(self.is_estimate) if self.amount is not None else ""


NO_AMOUNT = Money(None)


@dataclass(frozen=True)
class ApplicationLine:
    """One application in service in the year, as every format of the report shows it."""

    entity: str
    name: str
    category: str
    coverage: str
    vendor: str
    users: int | None
    method: str
    derivation: str
    counted_on: datetime.date | None
    counted_by: str
    needs_review: bool
    license_status: str
    licensed_users: int | None
    agreement_number: str
    license_starts: datetime.date | None
    license_ends: datetime.date | None
    position_code: str
    position: str
    position_reason: str
    needs_action: bool
    shortfall: int
    true_up_cost: Money
    per_user: Money
    royalty: Money
    royalty_note: str

    @property
    def partial_term(self) -> bool:
        """Whether the license runs for less than its whole calendar year (the PDF then names its dates)."""
        if self.license_starts is None or self.license_ends is None:
            return False
        return (self.license_starts.month, self.license_starts.day, self.license_ends.month, self.license_ends.day) != (
            1,
            1,
            12,
            31,
        )


@dataclass(frozen=True)
class EntityReport:
    """One legal entity: its applications, its royalty (the entity fee once) and chargemaster posting."""

    organization_id: int
    name: str
    slug: str
    relationship: str
    applications: list[ApplicationLine]
    applications_total: Money
    entity_fee: Money
    entity_fee_note: str
    total: Money
    needing_action: int
    may_post_chargemaster: bool
    chargemaster_reason: str


@dataclass(frozen=True)
class ComplianceReport:
    """The whole report: its header, each legal entity, the grand total and what needs action."""

    organization: str
    slug: str
    license_year: int
    include_affiliates: bool
    rates_label: str
    rates_source: str
    generated_at: datetime.datetime
    entities: list[EntityReport]
    applications_total: Money
    entity_fees: Money
    total: Money

    @property
    def applications(self) -> list[ApplicationLine]:
        return [line for entity in self.entities for line in entity.applications]

    @property
    def needing_action(self) -> list[ApplicationLine]:
        return [line for line in self.applications if line.needs_action]

    @property
    def scope_label(self) -> str:
        affiliates = len(self.entities) - 1
        if not self.include_affiliates:
            return f"{self.organization} only"
        return f"{self.organization} and {affiliates} affiliate{'' if affiliates == 1 else 's'}"

    @property
    def generated_at_display(self) -> str:
        moment = self.generated_at.astimezone(datetime.UTC)
        return f"{moment:%Y-%m-%d %H:%M} UTC"

    def file_name(self, file_format: str) -> str:
        return f"{self.slug}-{self.license_year}-compliance-report.{file_format}"


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------


def legal_entities(
    organization: Organization, *, viewer: access.Person, include_affiliates: bool
) -> list[Organization]:
    """The organization and, if asked, those of its affiliates `viewer` may see (one query, the scope aside).

    standing.with_affiliates reads the family whoever asks; the person's scope decides what the report shows.
    """
    family = standing.with_affiliates(organization) if include_affiliates else [organization]
    seen = access.scope(viewer)
    if not seen.allows(organization.pk):
        raise LookupError("The report covers only organizations the person may see.")
    return [entity for entity in family if seen.allows(entity.pk)]


def compliance_report(
    organization: Organization,
    license_year: int,
    *,
    include_affiliates: bool,
    viewer: access.Person,
    now: datetime.datetime | None = None,
) -> ComplianceReport:
    """The report's data for `viewer`, in a fixed number of queries whatever the number of entities or applications."""
    entities = legal_entities(organization, viewer=viewer, include_affiliates=include_affiliates)
    table = standing.rate_table()
    rates, rates_problem = standing.rates_for(table, license_year)
    rollup = standing.roll_up(entities, license_year, table=table)
    names = {entity.pk: entity.name for entity in entities}
    parts = [
        _entity(org, year, rollup.chargemaster[org.pk], _relationship(org, organization, names))
        for org, year in rollup.entities
    ]
    priced = rates is not None
    return ComplianceReport(
        organization=organization.name,
        slug=organization.slug,
        license_year=license_year,
        include_affiliates=include_affiliates,
        rates_label=rates.label if rates is not None else rates_problem,
        rates_source=rates.source if rates is not None else "",
        generated_at=now or timezone.now(),
        entities=parts,
        applications_total=_sum([e.applications_total for e in parts]) if priced else NO_AMOUNT,
        entity_fees=Money(rollup.entity_fees, any(e.entity_fee.is_estimate for e in parts)) if priced else NO_AMOUNT,
        total=Money(rollup.total, any(e.total.is_estimate for e in parts)) if priced else NO_AMOUNT,
    )


def _sum(amounts: list[Money]) -> Money:
    total = royalty.money(sum((money.amount or royalty.ZERO for money in amounts), royalty.ZERO))
    return Money(total, any(money.is_estimate for money in amounts))


def _relationship(entity: Organization, reporting: Organization, names: dict[int, str]) -> str:
    if entity.pk == reporting.pk:
        return "Reporting organization"
    return f"Affiliate of {names.get(entity.parent_id or 0, reporting.name)}"


def _entity(
    organization: Organization,
    year: standing.OrganizationYear,
    chargemaster: tuple[bool, str],
    relationship: str,
) -> EntityReport:
    lines = [_line(organization.name, item) for item in year.standings]
    result = year.royalty
    if result is None:
        applications_total = entity_fee = total = NO_AMOUNT
        fee_note = ""
    else:
        # A sum is an estimate when any amount it adds is (docs/rules.md, "Estimates").
        applications_total = Money(result.applications_total, result.applications_total_is_estimate)
        entity_fee = Money(result.entity_fee, result.entity_fee_is_estimate)
        total = Money(result.total, applications_total.is_estimate or entity_fee.is_estimate)
        fee_note = result.entity_fee_note
    return EntityReport(
        organization_id=organization.pk,
        name=organization.name,
        slug=organization.slug,
        relationship=relationship,
        applications=lines,
        applications_total=applications_total,
        entity_fee=entity_fee,
        entity_fee_note=fee_note,
        total=total,
        needing_action=sum(line.needs_action for line in lines),
        may_post_chargemaster=chargemaster[0],
        chargemaster_reason=chargemaster[1],
    )


def derivation(count, users: int | None) -> str:
    """How the users were reached (licensing.counting.explain), or "not counted"."""
    if count is None or users is None:
        return NOT_COUNTED
    text = counting.explain(count)
    if count.method == CountMethod.PROXY and count.metric_source:
        text += f"; source: {count.metric_source}"
    return text


def _line(entity: str, item: standing.Standing) -> ApplicationLine:
    application, count, license = item.application, item.count, item.license
    users, line, status = item.users, item.royalty, item.position
    # A true-up is the shortfall priced per user at the year's rates: an estimate when they are projected.
    estimated_rates = item.rates is not None and item.rates.is_estimate
    owed = bool(status.shortfall) and item.rates is not None
    return ApplicationLine(
        entity=entity,
        name=application.name,
        category=application.get_category_display(),
        coverage=application.get_cpt_coverage_display(),
        vendor=application.vendor.name if application.vendor is not None else "",
        users=users,
        method=count.get_method_display() if count is not None else "",
        derivation=derivation(count, users),
        counted_on=count.counted_on if count is not None else None,
        counted_by=count.counted_by if count is not None else "",
        needs_review=bool(count is not None and count.needs_review),
        license_status=license.get_status_display() if license is not None else "No license",
        licensed_users=license.licensed_users if license is not None else None,
        agreement_number=license.agreement_number if license is not None else "",
        license_starts=license.term_start if license is not None else None,
        license_ends=license.term_end if license is not None else None,
        position_code=status.position,
        position=status.label,
        position_reason=status.reason,
        needs_action=status.needs_action,
        shortfall=status.shortfall,
        true_up_cost=Money(status.true_up_cost, estimated_rates) if owed else NO_AMOUNT,
        per_user=Money(line.per_user, line.is_estimate) if line is not None else NO_AMOUNT,
        royalty=Money(line.amount, line.is_estimate) if line is not None else NO_AMOUNT,
        royalty_note=(line.note if line is not None else item.rates_problem),
    )


# ---------------------------------------------------------------------------------------------
# Spreadsheet rows: the CSV and the XLSX hold the same cells
# ---------------------------------------------------------------------------------------------

APPLICATION_COLUMNS = [
    "Legal entity",
    "Application",
    "Category",
    "CPT covered by",
    "Vendor",
    "Users",
    "Method",
    "How the users were derived",
    "Counted on",
    "Counted by",
    "Count needs review",
    "License status",
    "Licensed users",
    "AMA agreement number",
    "License starts",
    "License ends",
    "Position",
    "Position detail",
    "Shortfall",
    "True-up cost",
    "True-up cost basis",
    "Per user",
    "Per user basis",
    "Royalty",
    "Royalty basis",
    "Royalty note",
]
# Columns holding dollars, and dates: the XLSX formats them.
MONEY_COLUMNS = {"True-up cost", "Per user", "Royalty", "Applications total", "Entity fee", "Total"}
DATE_COLUMNS = {"Counted on", "License starts", "License ends"}

SUMMARY_COLUMNS = [
    "Legal entity",
    "Relationship",
    "Applications in service",
    "Needing action",
    "Applications total",
    "Applications total basis",
    "Entity fee",
    "Entity fee basis",
    "Entity fee note",
    "Total",
    "Total basis",
    "May post CPT codes in its chargemaster",
    "Chargemaster posting",
]
GRAND_TOTAL = "All legal entities"


def _money(value: Money) -> list[object]:
    return [value.amount, value.basis]


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def header_lines(report: ComplianceReport) -> list[list[object]]:
    """Label and value: what the report covers and when it was made."""
    return [
        ["Compliance report", report.organization],
        ["License year", report.license_year],
        ["Legal entities", report.scope_label],
        ["Rates", report.rates_label],
        ["Rates source", report.rates_source],
        ["Generated at", report.generated_at_display],
    ]


def application_rows(report: ComplianceReport) -> Iterator[list[object]]:
    for line in report.applications:
        yield [
            line.entity,
            line.name,
            line.category,
            line.coverage,
            line.vendor,
            line.users,
            line.method,
            line.derivation,
            line.counted_on,
            line.counted_by,
            _yes_no(line.needs_review),
            line.license_status,
            line.licensed_users,
            line.agreement_number,
            line.license_starts,
            line.license_ends,
            line.position,
            line.position_reason,
            line.shortfall or None,
            *_money(line.true_up_cost),
            *_money(line.per_user),
            *_money(line.royalty),
            line.royalty_note,
        ]


def summary_rows(report: ComplianceReport) -> list[list[object]]:
    """One row per legal entity, then the grand total."""
    rows: list[list[object]] = [
        [
            entity.name,
            entity.relationship,
            len(entity.applications),
            entity.needing_action,
            *_money(entity.applications_total),
            *_money(entity.entity_fee),
            entity.entity_fee_note,
            *_money(entity.total),
            _yes_no(entity.may_post_chargemaster),
            entity.chargemaster_reason,
        ]
        for entity in report.entities
    ]
    rows.append(
        [
            GRAND_TOTAL,
            report.scope_label,
            len(report.applications),
            len(report.needing_action),
            *_money(report.applications_total),
            *_money(report.entity_fees),
            "",
            *_money(report.total),
            "",
            "",
        ]
    )
    return rows


def _csv_value(value: object) -> object:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def as_csv(report: ComplianceReport) -> bytes:
    """UTF-8 with a byte order mark (Excel): the header lines, the applications, then the summary, blank-line apart."""
    lines: list[list[object]] = [
        *header_lines(report)[1:],
        [],
        APPLICATION_COLUMNS,
        *application_rows(report),
        [],
        SUMMARY_COLUMNS,
        *summary_rows(report),
    ]
    first = [safe_cell(value) for value in header_lines(report)[0]]
    cells = ([_csv_value(value) for value in line] for line in lines)
    return "".join(csv_chunks(first, cells)).encode("utf-8")


def as_xlsx(report: ComplianceReport) -> bytes:
    """Sheet "Applications" (one row per application, its legal entity named) and "Summary" (the header lines,
    then one row per legal entity and the grand total). Numbers and dates keep their types; the basis column
    beside each amount says "estimate" or "published"."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    bold = Font(bold=True)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Applications"
    _table(sheet, APPLICATION_COLUMNS, application_rows(report), start_row=1, bold=bold)
    sheet.freeze_panes = "C2"
    _widths(sheet, APPLICATION_COLUMNS)

    summary = workbook.create_sheet("Summary")
    for label, value in header_lines(report):
        summary.append([safe_cell(label), safe_cell(value)])
        summary.cell(row=summary.max_row, column=1).font = bold
    summary.append([])
    rows = summary_rows(report)
    start = summary.max_row + 1
    _table(summary, SUMMARY_COLUMNS, rows, start_row=start, bold=bold)
    for cell in summary[start + len(rows)]:
        cell.font = bold
    _widths(summary, SUMMARY_COLUMNS)
    for row in summary.iter_rows(min_row=start + 1):
        row[-1].alignment = Alignment(wrap_text=True, vertical="top")
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()


def _table(sheet, columns: list[str], rows: Iterable[list[object]], *, start_row: int, bold) -> None:
    for index, title in enumerate(columns, start=1):
        sheet.cell(row=start_row, column=index, value=safe_cell(title)).font = bold
    for number, line in enumerate(rows, start=start_row + 1):
        for index, (title, value) in enumerate(zip(columns, line, strict=True), start=1):
            cell = sheet.cell(row=number, column=index, value=safe_cell(value))
            if title in MONEY_COLUMNS:
                cell.number_format = "#,##0.00"
            elif title in DATE_COLUMNS:
                cell.number_format = "yyyy-mm-dd"


def _widths(sheet, columns: list[str]) -> None:
    from openpyxl.utils import get_column_letter

    wide = {"How the users were derived": 48, "Position detail": 36, "Royalty note": 30, "Chargemaster posting": 60}
    for index, title in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = wide.get(title, max(10, min(28, len(title) + 2)))


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def render_html(report: ComplianceReport) -> str:
    moment = report.generated_at.astimezone(datetime.UTC).replace(microsecond=0)
    context = {"report": report, "created": moment.isoformat().replace("+00:00", "Z")}
    # Grouping with commas whatever the active language: the figures are US dollars.
    with translation.override("en-us"):
        return render_to_string(TEMPLATE, context)


def as_pdf(report: ComplianceReport) -> bytes:
    """The report as PDF/A-3b, with the license application's stylesheet and fonts (licensing.pdf)."""
    from licensing import pdf

    return pdf.html_to_pdf(render_html(report))


WRITERS = {"csv": as_csv, "xlsx": as_xlsx, "pdf": as_pdf}


def write(report: ComplianceReport, file_format: str) -> bytes:
    return WRITERS[file_format](report)
