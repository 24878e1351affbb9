"""Every amount that rests on a projected rate or an estimated entity fee says "(est.)", and no other does.

Three years: 2024 (published rates and entity fee), 2026 (published rates, the entity fee carried over from 2024 as
an estimate) and two years ahead (no schedule: projected). Each page, export and the filing PDF is read cell by
cell and every amount in it is checked against what it rests on (docs/rules.md, "Estimates").
"""

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from pypdf import PdfReader

from licensing import filings, pdf, services, standing
from licensing.choices import ApplicationCategory, Coverage
from licensing.models import Filing
from tests.factories import (
    ApplicationFactory,
    LicenseFactory,
    OrganizationFactory,
    UserCountFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db

CURRENT = standing.current_license_year()
PUBLISHED, MIXED, PROJECTED = 2024, 2026, CURRENT + 2
AMOUNT = re.compile(r"\$[0-9,]+\.[0-9]{2}( \(est\.\))?")


@dataclass(frozen=True)
class Basis:
    """What a year's figures rest on: estimated (projected) rates, an estimated entity fee."""

    rates: bool
    fee: bool

    @property
    def total(self) -> bool:
        return self.rates or self.fee

    @property
    def word(self) -> str:
        return "estimate" if self.rates else "published"


YEARS = {PUBLISHED: Basis(rates=False, fee=False), MIXED: Basis(rates=False, fee=True), PROJECTED: Basis(True, True)}


def labels(text: str) -> list[bool]:
    """For each amount in `text`, in order, whether it carries the estimate label."""
    return [bool(match.group(1)) for match in AMOUNT.finditer(text)]


class Tables(HTMLParser):
    """The tables of a page: each a dict with its attributes and its rows, each row a list of cell texts."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._section = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"attrs": dict(attrs), "head": [], "body": [], "foot": []})
        elif tag in ("thead", "tbody", "tfoot"):
            self._section = {"thead": "head", "tbody": "body", "tfoot": "foot"}[tag]
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1][self._section or "body"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def find(self, **attrs) -> dict:
        found = [t for t in self.tables if all(v in t["attrs"].get(k, "").split() for k, v in attrs.items())]
        assert len(found) == 1, (attrs, [t["attrs"] for t in self.tables])
        return found[0]


def by_column(table: dict) -> list[dict[str, str]]:
    """The table's body rows as {column heading: cell text}."""
    head = [re.sub(r"^\d+ ", "", text) for text in table["head"][0]]  # without a sorted column's priority
    return [dict(zip(head, row, strict=True)) for row in table["body"]]


def get(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def result_rows(html: str) -> list[dict[str, str]]:
    return by_column(Tables(html).find(id="result_list"))


def readonly(html: str, field: str) -> str:
    found = re.search(rf'<div class="form-row[^"]*\bfield-{field}\b.*?<div class="readonly">(.*?)</div>', html, re.S)
    assert found, field
    return found.group(1)


@pytest.fixture
def portfolio(org_a):
    """Alpha Health licenses an encoder directly (under-licensed every year) and runs a CPT-free system; its
    affiliate Alpha Clinic has an EHR under its vendor's license (+$1.00 per user), so no entity fee."""
    clinic = OrganizationFactory(name="Alpha Clinic", slug="alpha-clinic", parent=org_a)
    coder = ApplicationFactory(organization=org_a, name="Coder", category=ApplicationCategory.CODING)
    ApplicationFactory(
        organization=org_a,
        name="Charts",
        category=ApplicationCategory.ANALYTICS,
        cpt_coverage=Coverage.NO_CPT,
        data_files=[],
    )
    vendor = VendorFactory(name="Clinic vendor", processing_fee_per_user=Decimal("1.00"))
    ehr = ApplicationFactory(
        organization=clinic,
        name="Clinic EHR",
        category=ApplicationCategory.AMBULATORY_EHR,
        cpt_coverage=Coverage.VENDOR,
        vendor=vendor,
    )
    for year in YEARS:
        UserCountFactory(application=coder, license_year=year, direct_users=12)
        LicenseFactory(application=coder, license_year=year, licensed_users=10)
        UserCountFactory(application=ehr, license_year=year, direct_users=5)
    return {"organization": org_a, "clinic": clinic, "coder": coder, "ehr": ehr}


def test_the_three_years_rest_on_what_the_tests_assume(db):
    table = standing.rate_table()
    for year, basis in YEARS.items():
        rates = table.for_year(year)
        assert (rates.is_estimate, rates.entity_fee_estimated) == (basis.rates, basis.fee), year
        assert rates.entity_fee, year


@pytest.mark.parametrize("year", YEARS)
def test_application_list_and_page(officer_client, portfolio, year):
    basis = YEARS[year]
    page = get(officer_client, "/admin/licensing/application/", year=year)
    rows = {row["System name"]: row for row in result_rows(page)}
    royalty = f"Royalty {year}"
    assert {name: labels(row[royalty]) for name, row in rows.items()} == {
        "Coder": [basis.rates],
        "Charts": [False],  # no CPT content: nothing to pay, whatever the rates
        "Clinic EHR": [basis.rates],  # the vendor passes the per-user royalty on
    }
    # No other column holds an amount.
    assert sum(len(labels(" ".join(row.values()))) for row in rows.values()) == 3

    page = get(officer_client, f"/admin/licensing/application/{portfolio['coder'].pk}/change/", year=year)
    summary = readonly(page, "standing_summary")
    found = dict(re.findall(r"(Per user|Royalty|True-up cost): (\$[0-9,.]+(?: \(est\.\))?)", summary))
    assert {name: labels(amount) for name, amount in found.items()} == {
        "Per user": [basis.rates],
        "Royalty": [basis.rates],
        "True-up cost": [basis.rates],
    }
    assert len(labels(summary)) == 3


def test_count_list_and_page_label_each_row_by_its_own_year(officer_client, portfolio):
    rows = result_rows(get(officer_client, "/admin/licensing/usercount/"))
    assert len(rows) == 2 * len(YEARS)
    for row in rows:
        assert labels(row["Royalty"]) == [YEARS[int(row["License year"])].rates], row
        assert labels(" ".join(value for key, value in row.items() if key != "Royalty")) == [], row
    for count in portfolio["coder"].user_counts.all():
        page = get(officer_client, f"/admin/licensing/usercount/{count.pk}/change/")
        assert labels(readonly(page, "royalty")) == [YEARS[count.license_year].rates], count.license_year


def test_license_list_and_page_label_the_true_up_cost(officer_client, portfolio):
    rows = result_rows(get(officer_client, "/admin/licensing/license/"))
    assert len(rows) == len(YEARS)
    for row in rows:
        assert labels(row["True-up cost"]) == [YEARS[int(row["License year"])].rates], row
    for lic in portfolio["coder"].licenses.all():
        page = get(officer_client, f"/admin/licensing/license/{lic.pk}/change/")
        assert labels(readonly(page, "true_up_cost")) == [YEARS[lic.license_year].rates], lic.license_year


@pytest.mark.parametrize("year", YEARS)
def test_organization_list_and_page(officer_client, portfolio, year):
    basis = YEARS[year]
    page = get(officer_client, "/admin/licensing/organization/", year=year)
    rows = {row["Legal name"]: row for row in result_rows(page)}
    assert {name: labels(row[f"Royalty {year}"]) for name, row in rows.items()} == {
        "Alpha Health": [basis.total],  # the encoder at the year's rates plus the entity fee
        "Alpha Clinic": [basis.rates],  # vendor-covered: no entity fee
    }

    page = get(officer_client, f"/admin/licensing/organization/{portfolio['organization'].pk}/change/", year=year)
    summary = Tables(page.split('<div class="year-summary">', 1)[1])
    lines = summary.tables[0]
    by_name = {row["Application"].split(" ")[0]: row for row in by_column(lines)}
    cells = {
        name: [labels(row[column]) for column in ("Per user", "Royalty", "True-up cost")]
        for name, row in by_name.items()
    }
    assert cells == {
        "Coder": [[basis.rates]] * 3,
        "Charts": [[False], [False], []],
    }
    applications, fee, total = lines["foot"]
    assert (labels(applications[-1]), labels(fee[-1]), labels(total[-1])) == ([basis.rates], [basis.fee], [basis.total])

    rollup = summary.find(**{"class": "rollup"})
    entities = {row["Legal entity"]: row for row in by_column(rollup)}
    assert {
        name: [labels(row[c]) for c in ("Applications", "Entity fee", "Total")] for name, row in entities.items()
    } == {
        "Alpha Health": [[basis.rates], [basis.fee], [basis.total]],
        "Alpha Clinic": [[basis.rates], [False], [basis.rates]],
    }
    foot = rollup["foot"][0]
    assert (labels(foot[4]), labels(foot[5])) == ([basis.fee], [basis.total])

    forecast = summary.find(**{"class": "forecast"})
    amounts = [flag for row in forecast["body"] for cell in row for flag in labels(cell)]
    assert amounts and all(amounts)  # from this year's counts: an estimate whatever the rates


def as_of(client, organization, year, **params):
    # The page rebuilds the license year of the moment (now, by default); a later moment shows today's records.
    moment = {} if year == CURRENT else {"at": f"{year}-06-01T12:00:00"}
    response = client.get(f"/admin/licensing/organization/{organization.pk}/as-of/", {**moment, **params})
    assert response.status_code == 200
    return response


# Only years from the current one on: the records are made today, so a moment in an earlier year shows none.
@pytest.mark.parametrize("year", [year for year in (MIXED, PROJECTED) if year >= CURRENT])
def test_as_of_page_and_its_csv(officer_client, portfolio, year):
    basis = YEARS[year]
    table = Tables(as_of(officer_client, portfolio["organization"], year).content.decode()).find(
        id="as-of-applications"
    )
    rows = {row["Application"]: row for row in by_column(table)}
    assert {name: [labels(row[c]) for c in ("Per user", "Royalty", "Position")] for name, row in rows.items()} == {
        "Coder": [[basis.rates], [basis.rates], [basis.rates]],  # the position cell holds the true-up cost
        "Charts": [[False], [False], []],
    }
    assert [(row[0], labels(row[-2])) for row in table["foot"]] == [
        ("Applications", [basis.rates]),
        ("Entity fee (estimated)" if basis.fee else "Entity fee (published)", [basis.fee]),
        ("Total", [basis.total]),
    ]

    download = as_of(officer_client, portfolio["organization"], year, format="csv")
    header, *lines = csv.reader(io.StringIO(download.content.decode("utf-8-sig")))
    cells = [dict(zip(header, line, strict=True)) for line in lines]
    # Amounts stay numbers; the column after each says what it rests on, in the page's words.
    for amount in ("Per user", "Royalty", "True-up cost"):
        assert header[header.index(amount) + 1] == f"{amount} basis"
    columns = ("Per user basis", "Royalty basis", "True-up cost basis")
    assert {row["Application"]: tuple(row[c] for c in columns) for row in cells} == {
        "Coder": (basis.word,) * 3,
        "Charts": ("published", "published", ""),
        "Applications total": ("", basis.word, ""),
        "Entity fee": ("", "estimate" if basis.fee else "published", ""),
        "Total": ("", "estimate" if basis.total else "published", ""),
    }
    assert all("(est.)" not in cell for line in lines for cell in line)  # the CSV's scheme is the basis column


@pytest.mark.parametrize("year", YEARS)
def test_dashboard(officer_client, portfolio, year):
    basis = YEARS[year]
    page = get(officer_client, "/admin/", year=year)
    total = re.search(r'<p class="royalty-total">.*?<strong>(.*?)</strong>', page, re.S).group(1)
    assert labels(total) == [basis.total]

    under = re.search(r"<h2>Under-licensed in \d+: (.*?)</h2>", page).group(1)
    assert labels(under) == [basis.rates]
    tables = Tables(page).tables
    shortfalls = next(t for t in tables if t["head"] and t["head"][0][-1] == "True-up cost")
    assert [labels(row[-1]) for row in shortfalls["body"]] == [[basis.rates]]

    forecast = next(t for t in tables if t["head"] and t["head"][0] == ["License year", "Royalty", "Rates"])
    assert [labels(row[1]) for row in forecast["body"]] == [[True]] * 3

    bar = r'<g class="bar( estimate)?"><text[^>]*>([^<]*)</text><rect[^>]*/><text[^>]*>(\$[^<]*)</text>'
    royalty_bars = {label: (labels(text), [bool(hatched)]) for hatched, label, text in re.findall(bar, page)}
    assert royalty_bars
    for label, (words, hatching) in royalty_bars.items():
        assert words == hatching, label  # the words and the hatching agree
    # The chart is of the years around this one, whichever year the page shows.
    shown = str(year) if year <= CURRENT else f"{year} (projected)"
    if shown in royalty_bars:
        assert royalty_bars[shown][0] == [basis.total if year <= CURRENT else True]


def fee_section(data: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return text.split("4. Fee estimate", 1)[1].split("5. Attestation", 1)[0]


def expected_fee_labels(fees: dict, basis: Basis) -> list[bool]:
    """The PDF's amounts in reading order: each data file's rates, each application's fees, then the totals."""
    rates = [
        basis.rates for rate in fees["per_user_rates"] for amount in (rate["per_user"], rate["flat_fee"]) if amount
    ]
    lines = [basis.rates for line in fees["lines"] for key in ("per_user", "flat_fees", "amount") if line[key]]
    return [*rates, *lines, basis.rates, basis.fee, basis.total]


@pytest.mark.parametrize("year", YEARS)
def test_every_fee_row_of_the_filing_pdf(officer_client, officer, portfolio, year):
    basis = YEARS[year]
    filing = services.filing_prepare(organization=portfolio["organization"], license_year=year, actor=officer)
    response = officer_client.get(f"/admin/licensing/filing/{filing.pk}/pdf/")
    assert response["Content-Type"] == "application/pdf"
    section = fee_section(response.content)
    fees = filings.snapshot(filing)["fees"]
    assert [line["application"] for line in fees["lines"]] == ["Coder"]
    assert labels(section) == expected_fee_labels(fees, basis), section
    if not basis.total:
        assert "(est.)" not in section
    coder = next(line for line in section.splitlines() if line.startswith("Coder "))
    assert labels(coder) == [basis.rates] * 3, coder


def test_a_submitted_projected_filing_freezes_its_labels(officer_client, officer, portfolio):
    filing = services.filing_prepare(organization=portfolio["organization"], license_year=PROJECTED, actor=officer)
    filing.signatory_name, filing.signatory_title = "Morgan Lee", "General Counsel"
    filing.attests_accurate = filing.attests_will_report_changes = True
    services.record_save(filing, actor=officer, reason="Signed")
    sent = services.filing_submit(filing=filing, actor=officer)
    fees = Filing.objects.get(pk=sent.pk).snapshot["fees"]
    assert (fees["applications_total_estimate"], fees["entity_fee_estimate"], fees["total_estimate"]) == (True,) * 3
    assert all(line["estimate"] for line in fees["lines"]) and all(rate["estimate"] for rate in fees["per_user_rates"])
    stored = officer_client.get(f"/admin/licensing/filing/{sent.pk}/pdf/").content
    assert labels(fee_section(stored)) == expected_fee_labels(fees, YEARS[PROJECTED])


def test_a_snapshot_frozen_before_the_labels_still_renders(officer, portfolio):
    filing = services.filing_prepare(organization=portfolio["organization"], license_year=PROJECTED, actor=officer)
    snapshot = filings.snapshot(filing)
    fees = snapshot["fees"]
    for key in ("applications_total_estimate", "entity_fee_estimate", "total_estimate"):
        del fees[key]
    for row in [*fees["lines"], *fees["per_user_rates"]]:
        del row["estimate"]
    html = pdf.render_html(snapshot, draft=False)
    section = html.split("4. Fee estimate", 1)[1]
    # Its amounts as they were printed then, with the rates paragraph saying they are estimated.
    for amount in (fees["lines"][0]["amount"], fees["entity_fee"], fees["total"]):
        assert f"${Decimal(amount):,.2f}</" in section, amount
    assert "(est.)" not in section
    assert "<b>estimated</b>, subject to the AMA's invoice" in section
