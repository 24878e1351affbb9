"""Fictional demo data: the Riverbend Health system for trying the portal, and bulk rows for benchmarks.

Every name, EIN, NPI, address, phone number and person here is invented. NPIs carry a valid
check digit so they pass validation; e-mail and web addresses use the reserved .example domain.
Optum360 is a real AMA-authorized distributor (named on the AMA's CPT licensing pages) and appears by name only: the fee
and notes on its vendor record are illustrative, not its terms.

`seed_demo` is idempotent: it recognises the demo system by its slug and creates nothing twice.
`seed_scale` adds numbered organizations ("scale-0000001" ...) for benchmarks; each run continues
the numbering, so runs can be repeated on the same database.

No year or date is fixed: everything is placed relative to the current license year Y
(licensing.standing.current_license_year) and to today, when the seed runs, so a demo seeded on any
day tells the same story. Four license years Y-3 .. Y: the past three are over (their licenses
expired), and the current year has, whatever the date:
- active licenses ending within 7, 30 and 90 days (three distributor or agreement terms shorter than
  the calendar year, ending today + 5, + 20 and + 60 days, but never after December 31 of Y);
- an expired license nobody renewed, for a system whose users are not counted this year;
- a vendor whose distribution agreement lapses at the end of Y, covering a vendor-covered system;
- one count of Y taken more than 12 months ago, the others taken this year;
- a draft AMA application and one submitted 45 days ago with no answer yet;
- an under-licensed system, and a system retired before Y (in service until the middle of Y-2);
- rosters of Y for three systems (DEMO_ROSTERS, files in licensing/demo_rosters/), imported through the roster
  import with their role mappings: people at other affiliates and outside the US, a person listed twice, a service
  account mapped as not a user and a shared login, so the counts derived from them explain themselves and the
  reconciliation page has findings; one of them (the physician group's EHR) far below the User Proxy Model's
  estimate, blocking the group's draft AMA application until acknowledged.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone

from licensing import counting, imports, services, standing
from licensing.choices import CountMethod, ImportOutcome, LicenseStatus, UserKind
from licensing.identifiers import npi_check_digit
from licensing.models import (
    Application,
    BaseMetric,
    BaseMetrics,
    Contact,
    DataFile,
    License,
    Membership,
    Organization,
    ProxyFactor,
    UserCount,
    Vendor,
)
from licensing.models.rosters import RoleMapping

DEMO_REASON = "Demo data"
SCALE_REASON = "Demo data (scale run)"
DEMO_SYSTEM_SLUG = "riverbend-health"
# The demo shows this many license years, ending with the current one; the earlier ones are over (expired).
DEMO_YEAR_SPAN = 4
# Scale runs cover last year and this year.
SCALE_YEAR_SPAN = 2
SCALE_SLUG_PREFIX = "scale-"
SCALE_SLUG_DIGITS = 7
# Organizations per round trip of a scale run: bounds memory while keeping INSERTs large.
SCALE_CHUNK = 1000
BATCH_SIZE = 1000

Kind = Organization.Kind
Category = Application.Category
Coverage = Application.Coverage
Deployment = Application.Deployment
Status = License.Status
Route = License.Route

STD, RVU, SNOMED, HCPCS, ICD10 = "cpt-standard", "cpt-rvu", "cpt-snomed", "ama-hcpcs", "ama-icd10"


@dataclass(frozen=True)
class DemoLogin:
    """A demo account: fixed demo passwords, chosen to pass Django's password validators."""

    role: str
    username: str
    password: str
    first_name: str
    last_name: str
    superuser: bool = False

    @property
    def email(self) -> str:
        return f"{self.username}@riverbendhealth.example"


# Fixed passwords, listed in the README; their digits are part of the password, not a license year.
ADMIN_LOGIN = DemoLogin("Administrator", "demo-admin", "lantern-harbor-2026", "Alex", "Moreno", superuser=True)
OFFICER_LOGIN = DemoLogin("Compliance officer", "demo-officer", "cedar-ledger-2026", "Dana", "Whitfield")
AUDITOR_LOGIN = DemoLogin("Auditor", "demo-auditor", "maple-compass-2026", "Sam", "Okafor")
DEMO_LOGINS = (ADMIN_LOGIN, OFFICER_LOGIN, AUDITOR_LOGIN)
DEMO_ROLES = ((OFFICER_LOGIN, Membership.Role.OFFICER), (AUDITOR_LOGIN, Membership.Role.AUDITOR))


def license_years() -> tuple[int, ...]:
    """The demo's license years: the current one and the three before it, oldest first."""
    current = standing.current_license_year()
    return tuple(range(current - DEMO_YEAR_SPAN + 1, current + 1))


def scale_years() -> tuple[int, ...]:
    """The license years of a scale run: last year (over, so expired) and this year."""
    current = standing.current_license_year()
    return tuple(range(current - SCALE_YEAR_SPAN + 1, current + 1))


def valid_npi(first_nine: str) -> str:
    """A ten-digit NPI whose last digit is the Luhn check digit of the first nine."""
    return first_nine + str(npi_check_digit(first_nine))


# ---------------------------------------------------------------------------------------------
# The Riverbend Health system
# ---------------------------------------------------------------------------------------------

ORGANIZATIONS = {
    "system": dict(
        name="Riverbend Health",
        slug=DEMO_SYSTEM_SLUG,
        kind=Kind.HEALTH_SYSTEM,
        parent=None,
        ein="364821907",
        npi=valid_npi("104728391"),
        street="1200 River Parkway",
        city="Riverbend",
        state="IL",
        postal_code="61790",
        phone="(309) 555-0100",
        notes="Demo health system; its affiliates are separate legal entities, each paying its own entity fee.",
    ),
    "hospital": dict(
        name="Riverbend Memorial Hospital",
        slug="riverbend-memorial-hospital",
        kind=Kind.HOSPITAL,
        parent="system",
        ein="364821915",
        npi=valid_npi("104728406"),
        street="1250 River Parkway",
        city="Riverbend",
        state="IL",
        postal_code="61790",
        phone="(309) 555-0120",
    ),
    "north_clinic": dict(
        name="Riverbend North Clinic",
        slug="riverbend-north-clinic",
        kind=Kind.AMBULATORY_CLINIC,
        parent="system",
        ein="364821923",
        npi=valid_npi("114728417"),
        street="88 Prairie View Road",
        city="North Riverbend",
        state="IL",
        postal_code="61792",
        phone="(309) 555-0140",
    ),
    "lakeshore_clinic": dict(
        name="Riverbend Lakeshore Clinic",
        slug="riverbend-lakeshore-clinic",
        kind=Kind.AMBULATORY_CLINIC,
        parent="system",
        ein="364821931",
        npi=valid_npi("124728428"),
        street="410 Lakeshore Drive",
        city="Lake Aurelia",
        state="IL",
        postal_code="61795",
        phone="(309) 555-0160",
    ),
    "physician_group": dict(
        name="Riverbend Physician Partners",
        slug="riverbend-physician-partners",
        kind=Kind.PHYSICIAN_GROUP,
        parent="system",
        ein="364821949",
        npi=valid_npi("134728439"),
        street="1300 River Parkway, Suite 400",
        city="Riverbend",
        state="IL",
        postal_code="61790",
        phone="(309) 555-0180",
    ),
}

# organization: [(role, name, title)]; e-mail addresses are derived from the names.
CONTACTS = {
    "system": [
        ("primary", "Dana Whitfield", "Chief Compliance Officer"),
        ("billing", "Marcus Lindqvist", "Vice President, Revenue Cycle"),
        ("legal", "Priya Raman", "General Counsel"),
    ],
    "hospital": [
        ("primary", "Elena Brooks", "Director of Health Information Management"),
        ("billing", "Marcus Lindqvist", "Vice President, Revenue Cycle"),
        ("legal", "Priya Raman", "General Counsel"),
    ],
    "north_clinic": [
        ("primary", "Tomas Herrera", "Clinic Practice Manager"),
        ("billing", "Grace Adeyemi", "Ambulatory Billing Manager"),
        ("legal", "Priya Raman", "General Counsel"),
    ],
    "lakeshore_clinic": [
        ("primary", "Hannah Kowalski", "Clinic Practice Manager"),
        ("billing", "Grace Adeyemi", "Ambulatory Billing Manager"),
        ("legal", "Priya Raman", "General Counsel"),
    ],
    "physician_group": [
        ("primary", "Dr. Owen Fairbanks", "Medical Group President"),
        ("billing", "Lucia Ferreira", "Professional Billing Director"),
        ("legal", "Jonah Steinmetz", "Outside Counsel"),
    ],
}

# Figures of the first demo year (Y-3); later years grow by GROWTH_PERCENT a year (see _grown).
BASE_METRICS = {
    "system": dict(physicians=None, billing_providers=None, staffed_beds=None, employees=310),
    "hospital": dict(physicians=184, billing_providers=212, staffed_beds=312, employees=2450),
    "north_clinic": dict(physicians=14, billing_providers=19, staffed_beds=None, employees=62),
    "lakeshore_clinic": dict(physicians=11, billing_providers=15, staffed_beds=None, employees=48),
    "physician_group": dict(physicians=66, billing_providers=81, staffed_beds=None, employees=240),
}
GROWTH_PERCENT = 3

# name: (authorized distributor, distribution agreement expires, processing fee per user, website, notes).
# The expiry is (years after the current license year, month, day): (0, 12, 31) is December 31 of this year.
VENDORS = {
    "Cedarline Health Systems": (
        True,
        (1, 12, 31),
        Decimal("1.00"),
        "https://cedarline.example",
        "EHR vendor; passes the AMA royalty on with a $1.00 processing fee per user.",
    ),
    "Harborview Software": (
        True,
        (0, 12, 31),
        Decimal("1.50"),
        "https://harborview.example",
        "Practice management vendor; its distribution agreement ends on December 31 of this year.",
    ),
    "Lumen Imaging Systems": (
        True,
        (2, 6, 30),
        Decimal("0.00"),
        "https://lumenimaging.example",
        "Radiology vendor; CPT royalty included in the subscription.",
    ),
    "Meridian Code Services": (
        True,
        (1, 6, 30),
        Decimal("1.00"),
        "https://meridiancode.example",
        "Third-party authorized distributor of AMA content.",
    ),
    "Optum360": (
        True,
        None,
        Decimal("0.00"),
        "",
        "Real AMA-authorized distributor, named for the demo only; fee and dates here are illustrative.",
    ),
    "Summit Revenue Systems": (
        False,
        None,
        Decimal("0.00"),
        "https://summitrevenue.example",
        "Not a distributor: customers license CPT directly from the AMA.",
    ),
    "Keystone Analytics": (False, None, Decimal("0.00"), "https://keystoneanalytics.example", ""),
    "Bluestem Clinical": (
        False,
        None,
        Decimal("0.00"),
        "https://bluestemclinical.example",
        "Small EHR vendor without an AMA distribution license.",
    ),
    "Northwind Scheduling": (
        False,
        None,
        Decimal("0.00"),
        "https://northwindscheduling.example",
        "Scheduling only; no CPT content.",
    ),
}

E, A, S, D, N = Status.EXPIRED, Status.ACTIVE, Status.SUBMITTED, Status.DRAFTED, Status.NEEDED
NR, CBV = Status.NOT_REQUIRED, Status.COVERED_BY_VENDOR

# Days from today to the end of the three current-year licenses with a term shorter than the calendar year,
# one per reminder threshold (licensing.attention.ENDING_THRESHOLDS: 90, 30, 7).
ENDING_IN_DAYS = (5, 20, 60)
# How long ago the demo's submitted AMA application was sent (more than attention.UNANSWERED_FILING_DAYS).
FILING_SENT_DAYS_AGO = 45

# The demo's rosters: files a newcomer can open and import again by hand (docs/imports.md, README).
DEMO_ROSTERS_DIR = Path(__file__).resolve().parent / "demo_rosters"


@dataclass(frozen=True)
class DemoRoster:
    """One roster file of the demo, imported for the current license year through the roster import."""

    application: str  # the key of its application plan
    file_name: str
    source: str


DEMO_ROSTERS = (
    DemoRoster("analytics", "analytics-report-subscriptions.csv", "Keystone report subscription list"),
    DemoRoster("group_ehr", "bluestem-ehr-users.csv", "Bluestem user administration export"),
    DemoRoster("encoder", "encoder-users.csv", "Optum360 encoder user list"),
)
# The analytics list again, a month on, with one more person, at the Lakeshore Clinic, whose role ("Budget analyst")
# the mapping does not know: importing it by hand shows the unmapped role blocking the import (README).
HAND_IMPORT_ROSTER = "analytics-report-subscriptions-update.csv"

# Each roster's application: role as exported -> (how it counts, why).
ROLE_MAPPINGS = {
    "analytics": {
        "Data analyst": (UserKind.DIRECT, "Queries CPT codes and RVUs in the warehouse directly."),
        "Report author": (UserKind.PROGRAM, "Builds reports from CPT-coded data with the warehouse's tools."),
        "Report reader": (UserKind.OUTPUT, "Reads the productivity and cost reports built on CPT codes."),
        "ETL service account": (UserKind.NOT_A_USER, "Nightly load job: no person signs in with it."),
    },
    "group_ehr": {
        "Physician": (UserKind.DIRECT, "Picks CPT codes when documenting visits."),
        "Medical assistant": (UserKind.DIRECT, "Enters orders and charges by CPT code."),
        "Front desk": (UserKind.PROGRAM, "Checks patients in and out; the EHR prices the visit from its CPT codes."),
        "Billing reviewer": (UserKind.OUTPUT, "Reviews the charge reports the EHR produces."),
        "Interface account": (UserKind.NOT_A_USER, "Lab results interface: an application, no person behind it."),
    },
    "encoder": {
        "Coding manager": (UserKind.DIRECT, "Assigns and audits CPT codes."),
        "Inpatient coder": (UserKind.DIRECT, "Assigns CPT codes."),
        "Outpatient coder": (UserKind.DIRECT, "Assigns CPT codes."),
        "CDI specialist": (UserKind.OUTPUT, "Reads the encoder's coding summaries."),
        "Interface account": (UserKind.NOT_A_USER, "HL7 feed to the billing system: no person behind it."),
    },
}
ROSTER_IMPORT = "rosters"  # the roster import's name in licensing.resources.catalog.RESOURCES


def _statuses(last_year: int, *statuses: str) -> dict[int, str]:
    """License status per year for the years ending with `last_year`: _statuses(2026, E, A) = {2025: E, 2026: A}."""
    first = last_year - len(statuses) + 1
    return {first + offset: status for offset, status in enumerate(statuses)}


def _ends_soon(days: int, *, today: datetime.date) -> datetime.date:
    """An end date `days` from today, kept within the current license year.

    A license covers one calendar year (licensing.workflow), so from November on the later dates are
    clamped to December 31: the license then still ends within every threshold it is meant to show, only
    not in a band of its own. In the first days of January the term is short (it starts on January 1): a
    bridge until the distributor's or the AMA's renewal. The date is never before today (so the license is
    still active) nor before January 1 (so it never ends before it starts).
    """
    return min(today + datetime.timedelta(days=days), datetime.date(today.year, 12, 31))


def application_plans(year: int, today: datetime.date) -> list[dict]:
    """The demo's applications for current license year `year`, seeded on `today`.

    One dict per application. `users` is ("counted", a, b, c) in first-year (Y-3) terms, or ("proxy", base
    metric); `statuses` maps license year to status, and a year without a status gets no license;
    `license_ends` maps a license year to an end date earlier than December 31; `not_counted_in` lists
    years with no user count; `stale_count` makes the current year's count a copy of last year's, counted
    each October for the following year, so it is more than 12 months old on any day of the year.
    """
    within_week, within_month, within_quarter = (_ends_soon(days, today=today) for days in ENDING_IN_DAYS)
    go_live = min(datetime.date(year, 3, 1), today)
    retired = datetime.date(year - 2, 6, 30)
    return [
        dict(
            key="inpatient_ehr",
            organization="hospital",
            name="Cedarline Inpatient EHR",
            category=Category.INPATIENT_EHR,
            vendor="Cedarline Health Systems",
            product_version=f"{year - 1}.2",
            deployment=Deployment.HOSTED,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD, HCPCS, ICD10],
            in_service_from=datetime.date(year - 10, 7, 1),
            internal_use="Order entry, problem lists and charge capture on the wards.",
            owner="Clinical Informatics",
            users=("counted", 1085, 140, 260),
            evidence="Active Directory group EHR-Inpatient, de-duplicated by employee ID.",
            statuses=_statuses(year, E, E, E, A),
            agreement="AMA-IU-{year}-20417",
            # Fewer users than this year's count: the under-licensed system, with its true-up cost.
            licensed_users={year: 1450},
            license_notes={
                year: f"Licensed for the {year} estimate; the January count came in higher, so a true-up is due."
            },
        ),
        dict(
            key="chargemaster",
            organization="hospital",
            name="Hospital chargemaster",
            category=Category.CHARGEMASTER,
            vendor="Summit Revenue Systems",
            product_version="11.4",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD, HCPCS],
            in_service_from=datetime.date(year - 12, 1, 1),
            internal_use=(
                "Keeps CPT and HCPCS codes and prices for every billable item; feeds the price transparency file."
            ),
            owner="Revenue Integrity",
            users=("counted", 9, 6, 38),
            evidence="Chargemaster team roster and report distribution list.",
            statuses=_statuses(year, E, E, E, A),
            agreement="AMA-IU-{year}-20418",
        ),
        dict(
            key="encoder",
            organization="hospital",
            name="Coding encoder",
            category=Category.CODING,
            vendor="Optum360",
            product_version=str(year),
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.DISTRIBUTOR,
            data_files=[STD, HCPCS, ICD10],
            in_service_from=datetime.date(year - 7, 10, 1),
            internal_use="Inpatient and outpatient coders assign CPT and ICD-10 codes.",
            owner="Health Information Management",
            internet_facing=True,
            internet_use="Coders reach the hosted encoder over TLS from the hospital network only.",
            users=("counted", 41, 0, 12),
            evidence="Encoder user list exported from the vendor portal.",
            statuses=_statuses(year, E, E, E, A),
            agreement="DIST-{year}-OPT-5512",
            license_ends={year: within_week},
            license_notes={
                year: f"Optum360 subscription term ends {within_week:%Y-%m-%d}; the renewal quote is with purchasing."
            },
        ),
        dict(
            key="radiology",
            organization="hospital",
            name="Radiology information system",
            category=Category.LAB_RADIOLOGY,
            vendor="Lumen Imaging Systems",
            product_version="8.1",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.VENDOR,
            data_files=[STD],
            in_service_from=datetime.date(year - 8, 3, 1),
            internal_use="Orders and bills imaging procedures by CPT code.",
            owner="Imaging Services",
            users=("counted", 96, 18, 0),
            evidence="RIS account list; technologists and schedulers.",
            statuses=_statuses(year, CBV, CBV, CBV, CBV),
        ),
        dict(
            key="lab_interface",
            organization="hospital",
            name="Legacy lab interface engine",
            category=Category.LAB_RADIOLOGY,
            vendor="Lumen Imaging Systems",
            product_version="5.0",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD],
            in_service_from=datetime.date(year - 15, 5, 1),
            # The retired system: out of service since the middle of Y-2, so counted and licensed until then.
            in_service_to=retired,
            internal_use="Mapped lab orders to CPT codes for billing until the new system took over.",
            owner="Laboratory",
            users=("counted", 12, 4, 0),
            evidence="Interface analyst roster.",
            statuses=_statuses(year - 1, E, E, NR),
            agreement="AMA-IU-{year}-20419",
            not_required_reason=f"Retired on {retired:%Y-%m-%d}, before the {year - 1} license year began.",
        ),
        dict(
            key="anesthesia",
            organization="hospital",
            name="Anesthesia record system",
            category=Category.OTHER,
            vendor="Bluestem Clinical",
            product_version="3.2",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD],
            in_service_from=datetime.date(year - 13, 9, 1),
            internal_use="Anesthesia records and time-based anesthesia billing codes for the operating rooms.",
            owner="Perioperative Services",
            users=("counted", 58, 6, 11),
            evidence="Anesthesia department roster.",
            # Last licensed for the year before: nobody renewed it, nor counted its users for this year.
            statuses=_statuses(year - 1, E, E, E),
            agreement="AMA-IU-{year}-20423",
            not_counted_in=[year],
        ),
        dict(
            key="scheduling",
            organization="hospital",
            name="Patient scheduling",
            category=Category.OTHER,
            vendor="Northwind Scheduling",
            product_version="4.0",
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.NO_CPT,
            in_service_from=datetime.date(year - 5, 2, 1),
            internet_facing=True,
            internet_use="Patients book appointments on the public website.",
            owner="Patient Access",
            internal_use="Appointment types only; no procedure codes.",
        ),
        dict(
            key="rcm",
            organization="system",
            name="Enterprise revenue cycle",
            category=Category.BILLING_RCM,
            vendor="Summit Revenue Systems",
            product_version="11.4",
            deployment=Deployment.HOSTED,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD, RVU],
            in_service_from=datetime.date(year - 9, 1, 1),
            internal_use="Claims, edits and remittance for every Riverbend entity.",
            owner="Revenue Cycle",
            users_outside_us=True,
            countries_outside_us="Philippines (offshore coding partner)",
            other_entities=["hospital", "north_clinic", "lakeshore_clinic", "physician_group"],
            users=("counted", 212, 35, 64),
            evidence="Billing office roster plus the offshore partner's staff list.",
            # Its AMA application was sent (see _demo_filings) and is still unanswered.
            statuses=_statuses(year, E, E, E, S),
            agreement="AMA-IU-{year}-20420",
        ),
        dict(
            key="analytics",
            organization="system",
            name="Enterprise analytics warehouse",
            category=Category.ANALYTICS,
            vendor="Keystone Analytics",
            product_version="3.7",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD, RVU],
            in_service_from=datetime.date(year - 6, 9, 1),
            internal_use="Productivity and cost reports by CPT code and RVU.",
            owner="Finance",
            users=("counted", 8, 22, 140),
            evidence="Report subscription list; readers of CPT-based reports count as (c).",
            # Its AMA application is a draft (see _demo_filings).
            statuses=_statuses(year, E, E, E, D),
            agreement="AMA-IU-{year}-20421",
        ),
        dict(
            key="cost_accounting",
            organization="system",
            name="Cost accounting",
            category=Category.ANALYTICS,
            vendor="Meridian Code Services",
            product_version="1.2",
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.DISTRIBUTOR,
            data_files=[STD, RVU],
            # New this year: live since March 1, or since today when that is still ahead.
            in_service_from=go_live,
            internal_use="Costs each procedure by CPT code.",
            owner="Finance",
            internet_facing=True,
            internet_use="Hosted by the vendor; finance staff sign in over the Internet.",
            users=("counted", 6, 4, 18),
            evidence=f"Go-live user list, {go_live:%B %Y}.",
            statuses={year: N},
        ),
        dict(
            key="north_ehr",
            organization="north_clinic",
            name="Cedarline Ambulatory EHR",
            category=Category.AMBULATORY_EHR,
            vendor="Cedarline Health Systems",
            product_version=f"{year - 1}.2",
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.VENDOR,
            data_files=[STD],
            in_service_from=datetime.date(year - 7, 1, 1),
            internal_use="Visit documentation and charge capture.",
            owner="Clinic Operations",
            internet_facing=True,
            internet_use="Hosted by the vendor; includes the patient portal.",
            users=("proxy", BaseMetric.PHYSICIANS),
            statuses=_statuses(year, CBV, CBV, CBV, CBV),
        ),
        dict(
            key="lakeshore_ehr",
            organization="lakeshore_clinic",
            name="Cedarline Ambulatory EHR",
            category=Category.AMBULATORY_EHR,
            vendor="Cedarline Health Systems",
            product_version=f"{year - 1}.2",
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.VENDOR,
            data_files=[STD],
            in_service_from=datetime.date(year - 6, 4, 1),
            internal_use="Visit documentation and charge capture.",
            owner="Clinic Operations",
            internet_facing=True,
            internet_use="Hosted by the vendor; includes the patient portal.",
            users=("proxy", BaseMetric.PHYSICIANS),
            statuses=_statuses(year, CBV, CBV, CBV, CBV),
        ),
        dict(
            key="lakeshore_pm",
            organization="lakeshore_clinic",
            name="Practice management",
            category=Category.PRACTICE_MANAGEMENT,
            # Harborview's distribution agreement ends on December 31 of this year (VENDORS).
            vendor="Harborview Software",
            product_version="9.3",
            deployment=Deployment.HOSTED,
            cpt_coverage=Coverage.VENDOR,
            data_files=[STD, ICD10],
            in_service_from=datetime.date(year - 6, 4, 1),
            internal_use="Scheduling, registration and professional claims.",
            owner="Clinic Operations",
            users=("counted", 14, 9, 3),
            evidence="Harborview user administration export.",
            statuses=_statuses(year, CBV, CBV, CBV, CBV),
            stale_count=True,
        ),
        dict(
            key="group_ehr",
            organization="physician_group",
            name="Bluestem Ambulatory EHR",
            category=Category.AMBULATORY_EHR,
            vendor="Bluestem Clinical",
            product_version="7.0",
            deployment=Deployment.ON_PREMISE,
            cpt_coverage=Coverage.DIRECT,
            data_files=[STD],
            in_service_from=datetime.date(year - 11, 8, 1),
            internal_use="Visit documentation, orders and charge capture in the group's offices.",
            owner="Medical Group IT",
            other_entities=["north_clinic"],
            users=("proxy", BaseMetric.PHYSICIANS),
            statuses=_statuses(year, E, E, E, A),
            agreement="AMA-IU-{year}-20422",
            license_ends={year: within_quarter},
            license_notes={
                year: f"Agreement term ends {within_quarter:%Y-%m-%d}, with the Bluestem support contract; "
                "renewal requested."
            },
        ),
        dict(
            key="group_billing",
            organization="physician_group",
            name="Professional billing service",
            category=Category.BILLING_RCM,
            vendor="Meridian Code Services",
            product_version=f"{year}.1",
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.DISTRIBUTOR,
            data_files=[STD, HCPCS],
            in_service_from=datetime.date(year - 8, 1, 1),
            internal_use="Professional fee claims for the group's physicians.",
            owner="Professional Billing",
            internet_facing=True,
            internet_use="Vendor-hosted billing workstation.",
            users=("counted", 27, 5, 9),
            evidence="Meridian seat invoice and billing team roster.",
            statuses=_statuses(year, E, E, E, A),
            agreement="DIST-{year}-MCS-0931",
            license_ends={year: within_month},
            license_notes={year: f"Meridian seat subscription ends {within_month:%Y-%m-%d}; renewal quote requested."},
        ),
        dict(
            key="directory",
            organization="physician_group",
            name="Physician directory",
            category=Category.OTHER,
            vendor=None,
            deployment=Deployment.SAAS,
            cpt_coverage=Coverage.NO_CPT,
            in_service_from=datetime.date(year - 4, 5, 1),
            internet_facing=True,
            internet_use="Public web page listing physicians and specialties.",
            owner="Marketing",
            internal_use="Names and specialties only; no procedure codes.",
        ),
    ]


# Fields of an application plan that are not Application fields.
_PLAN_KEYS = {
    "key",
    "organization",
    "vendor",
    "data_files",
    "other_entities",
    "users",
    "evidence",
    "statuses",
    "agreement",
    "licensed_users",
    "license_notes",
    "license_ends",
    "not_required_reason",
    "not_counted_in",
    "stale_count",
}
_ROUTE_FOR_COVERAGE = {
    Coverage.DIRECT: Route.DIRECT,
    Coverage.VENDOR: Route.VENDOR,
    Coverage.DISTRIBUTOR: Route.DISTRIBUTOR,
}


@dataclass
class DemoSeed:
    """What seed_demo did: the demo administrator (the history user) and what it created."""

    admin: object
    logins: tuple
    created: bool
    created_counts: dict


@dataclass
class ScaleSeed:
    """What one scale run created; history_rows counts every historical row written, m2m included."""

    first_slug: str
    last_slug: str
    organizations: int = 0
    base_metrics: int = 0
    applications: int = 0
    data_file_links: int = 0
    user_counts: int = 0
    licenses: int = 0
    history_rows: int = 0


def _grown(value: int | None, year: int, *, first_year: int) -> int | None:
    if value is None:
        return None
    return round(value * (100 + GROWTH_PERCENT * (year - first_year)) / 100)


def _save(obj, *, actor, reason: str = DEMO_REASON):
    """Validate, then save with the actor and reason on the history row."""
    return services.record_save(obj, actor=actor, reason=reason)


def _demo_user(login: DemoLogin):
    """The demo account for `login`, created on first use; an existing account is left as it is."""
    User = get_user_model()
    user = User.objects.filter(username=login.username).first()
    if user is not None:
        return user
    user = User(
        username=login.username,
        first_name=login.first_name,
        last_name=login.last_name,
        email=login.email,
        is_staff=True,
        is_superuser=login.superuser,
    )
    validate_password(login.password, user)
    user.set_password(login.password)
    user.full_clean()
    return services.person_save(person=user, actor=None, reason="Demo account created by seed_demo")


def demo_vendors(*, actor) -> dict[str, Vendor]:
    """The demo vendors by name; a vendor of the same name already on file is reused, not altered.

    Agreement expiry dates are placed relative to the current license year (see VENDORS).
    """
    year = standing.current_license_year()
    existing = {vendor.name: vendor for vendor in Vendor.objects.filter(name__in=VENDORS)}
    vendors = {}
    for name, (authorized, expires, fee, website, notes) in VENDORS.items():
        if name in existing:
            vendors[name] = existing[name]
            continue
        agreement_ends = None
        if expires is not None:
            years_ahead, month, day = expires
            agreement_ends = datetime.date(year + years_ahead, month, day)
        vendors[name] = _save(
            Vendor(
                name=name,
                is_authorized_distributor=authorized,
                distribution_agreement_expires=agreement_ends,
                processing_fee_per_user=fee,
                website=website,
                notes=notes,
            ),
            actor=actor,
        )
    return vendors


def _email(name: str) -> str:
    local = ".".join(part for part in name.lower().replace("dr. ", "").split())
    return f"{local}@riverbendhealth.example"


@dataclass(frozen=True)
class _Calendar:
    """When the demo is seeded: the current license year, the demo's first year, and today."""

    current: int
    first: int
    today: datetime.date


def _create_demo_system(*, actor) -> dict:
    """Organizations, contacts, metrics, applications, counts, licenses and filings of Riverbend Health."""
    created = dict.fromkeys(
        ["organizations", "contacts", "base_metrics", "vendors", "applications", "user_counts", "licenses"], 0
    )
    today = timezone.localdate()
    years = license_years()
    calendar = _Calendar(current=years[-1], first=years[0], today=today)
    vendors_before = Vendor.objects.count()
    vendors = demo_vendors(actor=actor)
    created["vendors"] = Vendor.objects.count() - vendors_before
    files = {data_file.code: data_file for data_file in DataFile.objects.all()}
    proxy_factor = ProxyFactor.objects.filter(
        category=Category.AMBULATORY_EHR, base_metric=BaseMetric.PHYSICIANS
    ).first()

    organizations = {}
    for key, fields in ORGANIZATIONS.items():
        parent = organizations[fields["parent"]] if fields["parent"] else None
        organizations[key] = _save(Organization(**{**fields, "parent": parent}), actor=actor)
        created["organizations"] += 1

    for key, contacts in CONTACTS.items():
        for role, name, title in contacts:
            contact = Contact(
                organization=organizations[key],
                role=role,
                name=name,
                title=title,
                email=_email(name),
                phone=organizations[key].phone,
            )
            _save(contact, actor=actor)
            created["contacts"] += 1

    metrics = {}
    for key, base in BASE_METRICS.items():
        for year in years:
            metrics[key, year] = _save(
                BaseMetrics(
                    organization=organizations[key],
                    license_year=year,
                    source=f"Medical staff office and HR rosters, January {year}",
                    **{name: _grown(value, year, first_year=calendar.first) for name, value in base.items()},
                ),
                actor=actor,
            )
            created["base_metrics"] += 1

    applications = {}
    for plan in application_plans(calendar.current, today):
        application = Application(
            organization=organizations[plan["organization"]],
            vendor=vendors[plan["vendor"]] if plan["vendor"] else None,
            **{name: value for name, value in plan.items() if name not in _PLAN_KEYS},
        )
        _save(application, actor=actor)
        applications[plan["key"]] = application
        # Each .set() writes one more history row carrying the links, under the same actor and reason.
        if plan.get("data_files"):
            application.data_files.set([files[code] for code in plan["data_files"]])
        if plan.get("other_entities"):
            application.users_at_other_entities.set([organizations[key] for key in plan["other_entities"]])
        created["applications"] += 1
        if not application.has_cpt:
            continue

        users_by_year = {}
        for year in years:
            if not application.in_service_during(year) or year in plan.get("not_counted_in", ()):
                continue
            count = _demo_count(
                plan, application, year, metrics.get((plan["organization"], year)), proxy_factor, calendar
            )
            _save(count, actor=actor)
            users_by_year[year] = count.users
            created["user_counts"] += 1

        previous = None
        for year, status in sorted(plan.get("statuses", {}).items()):
            license = _demo_license(plan, application, year, status, users_by_year.get(year), previous)
            previous = _save(license, actor=actor)
            created["licenses"] += 1

    created.update(_demo_rosters(applications, calendar, actor=actor))
    created["filings"] = _demo_filings(organizations, applications, calendar, actor=actor)
    return {"organizations": organizations, "created": created}


def _counted_on(plan, application, year: int, calendar: _Calendar) -> datetime.date:
    """When a count was taken: mid-January of its year, never after today nor before the system went live.

    A plan with `stale_count` is counted each October for the following year, and its current-year count
    is last year's carried forward, so it is more than 12 months old on any day of the current year.
    """
    if plan.get("stale_count"):
        counted_for = min(year, calendar.current - 1)
        return datetime.date(counted_for - 1, 10, 1)
    day = min(datetime.date(year, 1, 15), calendar.today)
    return max(day, application.in_service_from) if application.in_service_from else day


def _demo_count(plan, application, year: int, metrics, proxy_factor, calendar: _Calendar) -> UserCount:
    spec = plan["users"]
    count = UserCount(
        application=application,
        license_year=year,
        counted_on=_counted_on(plan, application, year, calendar),
        counted_by=OFFICER_LOGIN.first_name + " " + OFFICER_LOGIN.last_name,
    )
    if spec[0] == CountMethod.PROXY:
        metric = spec[1]
        count.method = UserCount.Method.PROXY
        count.base_metric = metric
        count.metric_value = Decimal(metrics.value_of(metric))
        count.metric_source = metrics.source
        count.factor = proxy_factor.factor if proxy_factor else Decimal(4)
        count.evidence = "User Proxy Model: physicians on the January roster times the AMA factor for ambulatory EHRs."
        return count
    count.method = UserCount.Method.COUNTED
    count.evidence = plan.get("evidence", "")
    figures_of = year
    if plan.get("stale_count") and year == calendar.current:
        figures_of = year - 1
        count.evidence = (
            f"Carried forward from the {year - 1} count ({count.evidence.rstrip('.')} of "
            f"{count.counted_on:%Y-%m-%d}); not recounted since."
        )
    _, direct, program, output = spec
    count.direct_users, count.program_users, count.output_users = (
        _grown(value, figures_of, first_year=calendar.first) for value in (direct, program, output)
    )
    return count


def _demo_license(plan, application, year: int, status: str, users: int | None, previous) -> License:
    route = _ROUTE_FOR_COVERAGE[application.cpt_coverage]
    license = License(
        application=application,
        license_year=year,
        route=route,
        distributor=application.vendor if route != Route.DIRECT else None,
        status=status,
        ends_on=plan.get("license_ends", {}).get(year),
        renewal_of=previous,
        notes=plan.get("license_notes", {}).get(year, ""),
    )
    if status in (LicenseStatus.ACTIVE, LicenseStatus.EXPIRED):
        license.agreement_number = plan["agreement"].format(year=year)
    if status in (
        LicenseStatus.ACTIVE,
        LicenseStatus.EXPIRED,
        LicenseStatus.SUBMITTED,
        LicenseStatus.DRAFTED,
        LicenseStatus.COVERED_BY_VENDOR,
    ):
        license.licensed_users = plan.get("licensed_users", {}).get(year, users)
    if status == LicenseStatus.NOT_REQUIRED:
        license.not_required_reason = plan["not_required_reason"]
    return license


def _demo_rosters(applications: dict, calendar: _Calendar, *, actor) -> dict[str, int]:
    """The role mappings and the current year's rosters of DEMO_ROSTERS, each file previewed and confirmed through
    the roster import as an officer would (licensing.imports), so the counts are derived by the portal itself."""
    year = calendar.current
    made = {"role_mappings": 0, "rosters": 0}
    for key, mappings in ROLE_MAPPINGS.items():
        for role, (kind, explanation) in mappings.items():
            mapping = RoleMapping(application=applications[key], role=role, kind=kind, explanation=explanation)
            services.role_mapping_save(mapping=mapping, actor=actor, reason=DEMO_REASON)
            made["role_mappings"] += 1
    for roster in DEMO_ROSTERS:
        application = applications[roster.application]
        parameters = {
            "application": application.pk,
            "license_year": year,
            "taken_on": _counted_on({}, application, year, calendar).isoformat(),
            "source": roster.source,
        }
        step = dict(
            resource_name=ROSTER_IMPORT,
            file_name=roster.file_name,
            content=(DEMO_ROSTERS_DIR / roster.file_name).read_bytes(),
            actor=actor,
            reason=DEMO_REASON,
        )
        preview = imports.run(**step, dry_run=True, parameters=parameters)
        done = (
            imports.run(**step, dry_run=False, preview=preview)
            if preview.outcome == ImportOutcome.PREVIEWED
            else preview
        )
        if done.outcome != ImportOutcome.CONFIRMED:
            raise RuntimeError(f"The demo roster {roster.file_name} was refused: {done.report.get('problems')}")
        made["rosters"] += 1
    return made


def _demo_filings(organizations: dict, applications: dict, calendar: _Calendar, *, actor) -> int:
    """The AMA applications for the current year: the system's revenue cycle's, sent FILING_SENT_DAYS_AGO days
    ago and not answered yet, and its analytics warehouse's, still a draft (their licenses say the same); and the
    physician group's draft reporting its EHR's roster count, which is far below the User Proxy Model's estimate,
    so its submission waits for an acknowledgement with a reason."""
    year, system = calendar.current, organizations["system"]
    sent = services.filing_prepare(organization=system, license_year=year, actor=actor, reason=DEMO_REASON)
    sent.applications.set([applications["rcm"]])
    sent.attests_accurate = sent.attests_will_report_changes = True
    _save(sent, actor=actor)
    sent = services.filing_submit(filing=sent, actor=actor, reason=DEMO_REASON)
    # filing_submit stamps the moment of the call; the demo's application went out weeks ago. The PDF and its
    # SHA-256 stay as frozen; only the recorded moment of sending moves, with its own history row.
    sent.submitted_at -= datetime.timedelta(days=FILING_SENT_DAYS_AGO)
    _save(sent, actor=actor, reason=f"{DEMO_REASON}: sent to the AMA on {sent.submitted_at:%Y-%m-%d}, no answer yet")

    draft = services.filing_prepare(organization=system, license_year=year, actor=actor, reason=DEMO_REASON)
    draft.applications.set([applications["analytics"]])

    # The AMA asks to be told when user numbers change: the group reports the roster count of its EHR. Signed and
    # attested, so the plausibility warning is the one thing between it and submission.
    group = services.filing_prepare(
        organization=organizations["physician_group"], license_year=year, actor=actor, reason=DEMO_REASON
    )
    group.applications.set([applications["group_ehr"]])
    group.attests_accurate = group.attests_will_report_changes = True
    _save(group, actor=actor)
    return 3


@transaction.atomic
def seed_demo(*, actor=None) -> DemoSeed:
    """Create the demo accounts and the Riverbend Health system once; later runs create nothing.

    `actor` is recorded on every history row written; by default the demo administrator. Years and dates
    are placed relative to the day it runs (see the module docstring).
    """
    users = {login: _demo_user(login) for login in DEMO_LOGINS}
    admin = actor or users[ADMIN_LOGIN]
    system = Organization.objects.filter(slug=DEMO_SYSTEM_SLUG).first()
    created, created_counts = False, {}
    if system is None:
        if not admin.is_superuser:
            # The demo's rosters go through the roster import, which only an administrator may run for
            # organizations nobody manages yet.
            raise ValueError(
                f"{admin.get_username()} is not an administrator: the demo is created by an administrator (its "
                "rosters are imported as one). Name a superuser, or leave out --actor."
            )
        result = _create_demo_system(actor=admin)
        system, created, created_counts = result["organizations"]["system"], True, result["created"]
    for login, role in DEMO_ROLES:
        if not Membership.objects.filter(user=users[login], organization=system, role=role).exists():
            services.membership_grant(
                user=users[login], organization=system, role=role, actor=admin, reason=DEMO_REASON
            )
            created_counts["memberships"] = created_counts.get("memberships", 0) + 1
    return DemoSeed(admin=admin, logins=DEMO_LOGINS, created=created, created_counts=created_counts)


# ---------------------------------------------------------------------------------------------
# Scale runs for benchmarks
# ---------------------------------------------------------------------------------------------

# Scale rows are valid by construction (valid EINs and NPIs, non-negative users, proxy inputs
# complete, active licenses with agreement and users, expired only for past years, no license
# for a no-CPT system); full_clean on every row would dominate the run, so only the first row
# of each kind is validated, which still fails fast if a generator change breaks a rule.

SCALE_KINDS = [Kind.AMBULATORY_CLINIC, Kind.PHYSICIAN_GROUP, Kind.AMBULATORY_CLINIC, Kind.HOSPITAL]
SCALE_PLACES = [
    ("Springdale", "IL", "61801"),
    ("Cedar Falls", "IA", "50613"),
    ("Maple Grove", "MN", "55311"),
    ("Fairview", "OH", "44126"),
    ("Oak Ridge", "TN", "37830"),
]
# The three systems each scale organization gets: (name, category, vendor, coverage, data files, users).
SCALE_APPLICATIONS = [
    ("Ambulatory EHR", Category.AMBULATORY_EHR, None, None, [STD], CountMethod.PROXY),
    (
        "Billing system",
        Category.BILLING_RCM,
        "Summit Revenue Systems",
        Coverage.DIRECT,
        [STD, RVU],
        CountMethod.COUNTED,
    ),
    (
        "Coding encoder",
        Category.CODING,
        "Meridian Code Services",
        Coverage.DISTRIBUTOR,
        [STD, HCPCS, ICD10],
        CountMethod.COUNTED,
    ),
]
# Every tenth organization uses a scheduling system with no CPT instead of an encoder.
SCALE_NO_CPT_APPLICATION = ("Patient scheduling", Category.OTHER, "Northwind Scheduling", Coverage.NO_CPT, [], None)
# Statuses of the current year's licenses, in turn (vendor-covered systems stay covered by vendor).
SCALE_CURRENT_STATUSES = [Status.ACTIVE, Status.ACTIVE, Status.SUBMITTED, Status.DRAFTED, Status.NEEDED]


def _scale_slug(number: int) -> str:
    return f"{SCALE_SLUG_PREFIX}{number:0{SCALE_SLUG_DIGITS}d}"


def next_scale_number() -> int:
    """The number after the highest scale organization on file, so repeated runs never collide."""
    last = (
        Organization.objects.filter(slug__regex=rf"^{SCALE_SLUG_PREFIX}[0-9]{{{SCALE_SLUG_DIGITS}}}$")
        .order_by("-slug")
        .values_list("slug", flat=True)
        .first()
    )
    return int(last.removeprefix(SCALE_SLUG_PREFIX)) + 1 if last else 1


def _chunks(items, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _bulk(objs, model, *, actor, result: ScaleSeed, m2m=None):
    """Insert with one stamped history row each; the ids come back so children can point at them."""
    if not objs:
        return objs
    created = services.record_bulk_create(objs, model, actor=actor, reason=SCALE_REASON, batch_size=BATCH_SIZE, m2m=m2m)
    if created[0].pk is None or created[0] is not objs[0]:
        raise RuntimeError(
            "Scale seeding needs a database that returns ids from bulk inserts (PostgreSQL, or SQLite 3.35 or later)."
        )
    result.history_rows += len(objs)
    return objs


def _scale_organization(number: int) -> Organization:
    city, state, postal_code = SCALE_PLACES[number % len(SCALE_PLACES)]
    kind = SCALE_KINDS[number % len(SCALE_KINDS)]
    return Organization(
        name=f"Benchmark {Kind(kind).label} {number:0{SCALE_SLUG_DIGITS}d}",
        slug=_scale_slug(number),
        kind=kind,
        # EIN prefixes 20-89 are all assigned by the IRS and never start with 00.
        ein=f"{20 + number % 70:02d}{number % 10**7:07d}",
        npi=valid_npi(f"1{number % 10**8:08d}"),
        street=f"{100 + number % 900} Main Street",
        city=city,
        state=state,
        postal_code=postal_code,
        phone=f"(555) 01{number % 100:02d}",
        notes="Generated for a benchmark run.",
    )


def _scale_physicians(number: int, year: int, *, first_year: int) -> int:
    return 4 + number % 37 + (year - first_year)


def _scale_chunk(
    numbers, *, years, today, actor, vendors, files, proxy_factor, result: ScaleSeed, validate: bool
) -> None:
    last_year, this_year = years
    organizations = [_scale_organization(number) for number in numbers]
    if validate:
        organizations[0].full_clean()
    _bulk(organizations, Organization, actor=actor, result=result)
    result.organizations += len(organizations)

    metrics = [
        BaseMetrics(
            organization=organization,
            license_year=year,
            physicians=_scale_physicians(number, year, first_year=last_year),
            billing_providers=_scale_physicians(number, year, first_year=last_year) + 2,
            employees=_scale_physicians(number, year, first_year=last_year) * 6,
            source=f"Benchmark roster {year}",
        )
        for organization, number in zip(organizations, numbers, strict=True)
        for year in years
    ]
    if validate:
        metrics[0].full_clean()
    _bulk(metrics, BaseMetrics, actor=actor, result=result)
    result.base_metrics += len(metrics)

    plans = []  # (application, number, data file codes, counting method)
    for organization, number in zip(organizations, numbers, strict=True):
        templates = list(SCALE_APPLICATIONS)
        if number % 10 == 0:
            templates[2] = SCALE_NO_CPT_APPLICATION
        for name, category, vendor_name, coverage, codes, method in templates:
            if category == Category.AMBULATORY_EHR:
                # Alternate between a distributor's EHR covered by the vendor and one licensed directly.
                if number % 2:
                    vendor_name, coverage = "Cedarline Health Systems", Coverage.VENDOR
                else:
                    vendor_name, coverage = "Bluestem Clinical", Coverage.DIRECT
            application = Application(
                organization=organization,
                name=name,
                category=category,
                vendor=vendors[vendor_name],
                product_version=f"{this_year}.1",
                deployment=Deployment.HOSTED,
                cpt_coverage=coverage,
                internal_use="Generated for a benchmark run.",
                in_service_from=datetime.date(this_year - 6, 1, 1),
            )
            plans.append((application, number, codes, method))
    applications = [plan[0] for plan in plans]
    if validate:
        applications[0].full_clean()
    links = [[files[code].pk for code in plan[2]] for plan in plans]
    _bulk(applications, Application, actor=actor, result=result, m2m={"data_files": links})
    result.applications += len(applications)
    result.data_file_links += sum(len(ids) for ids in links)
    result.history_rows += sum(len(ids) for ids in links)

    counts, users = [], {}
    for application, number, _, method in plans:
        if method is None:
            continue
        for year in years:
            # Counted in mid-January of each year; this year's not after today.
            counted_on = min(datetime.date(year, 1, 15), today)
            count = UserCount(application=application, license_year=year, method=method, counted_on=counted_on)
            if method == CountMethod.PROXY:
                count.base_metric = BaseMetric.PHYSICIANS
                count.metric_value = Decimal(_scale_physicians(number, year, first_year=last_year))
                count.metric_source = f"Benchmark roster {year}"
                count.factor = proxy_factor
            else:
                count.direct_users = 5 + number % 50
                count.program_users = number % 7
                count.output_users = number % 11
            counts.append(count)
            users[application.pk, year] = counting.users(count)
    if validate:
        counts[0].full_clean()
    _bulk(counts, UserCount, actor=actor, result=result)
    result.user_counts += len(counts)

    last_year_licenses, renewals = [], []
    for application, number, _, method in plans:
        if method is None:
            continue
        route = _ROUTE_FOR_COVERAGE[application.cpt_coverage]
        distributor = application.vendor if route != Route.DIRECT else None
        covered = route == Route.VENDOR
        first = License(
            application=application,
            license_year=last_year,
            route=route,
            distributor=distributor,
            status=Status.COVERED_BY_VENDOR if covered else Status.EXPIRED,
            licensed_users=users[application.pk, last_year],
            agreement_number="" if covered else f"AMA-IU-{last_year}-{application.pk:08d}",
        )
        status = Status.COVERED_BY_VENDOR if covered else SCALE_CURRENT_STATUSES[number % len(SCALE_CURRENT_STATUSES)]
        second = License(
            application=application,
            license_year=this_year,
            route=route,
            distributor=distributor,
            status=status,
            licensed_users=None if status == Status.NEEDED else users[application.pk, this_year],
            agreement_number=f"AMA-IU-{this_year}-{application.pk:08d}" if status == Status.ACTIVE else "",
            renewal_of=first,
        )
        last_year_licenses.append(first)
        renewals.append(second)
    if validate:
        last_year_licenses[0].full_clean()
    # Renewals were built before their predecessors had ids; bulk_create picks the ids up from renewal_of.
    _bulk(last_year_licenses, License, actor=actor, result=result)
    if validate:
        renewals[0].full_clean()
    _bulk(renewals, License, actor=actor, result=result)
    result.licenses += len(last_year_licenses) + len(renewals)


@transaction.atomic
def seed_scale(*, organizations: int, actor) -> ScaleSeed:
    """Bulk-create `organizations` more organizations with three systems each, and their base metrics, counts and
    licenses for last year and this year (scale_years())."""
    if organizations < 1:
        raise ValueError("The number of organizations must be at least 1.")
    vendors = demo_vendors(actor=actor)
    files = {data_file.code: data_file for data_file in DataFile.objects.all()}
    factor_row = ProxyFactor.objects.filter(category=Category.AMBULATORY_EHR, base_metric=BaseMetric.PHYSICIANS).first()
    proxy_factor = factor_row.factor if factor_row else Decimal(4)
    first = next_scale_number()
    numbers = list(range(first, first + organizations))
    if numbers[-1] >= 10**SCALE_SLUG_DIGITS:
        raise ValueError(f"Scale organizations are numbered up to {10**SCALE_SLUG_DIGITS - 1}.")
    result = ScaleSeed(first_slug=_scale_slug(numbers[0]), last_slug=_scale_slug(numbers[-1]))
    years, today = scale_years(), timezone.localdate()
    for index, chunk in enumerate(_chunks(numbers, SCALE_CHUNK)):
        _scale_chunk(
            chunk,
            years=years,
            today=today,
            actor=actor,
            vendors=vendors,
            files=files,
            proxy_factor=proxy_factor,
            result=result,
            validate=index == 0,
        )
    return result
