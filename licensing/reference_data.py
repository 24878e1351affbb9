"""Reference data: AMA data files, royalty rates 2021-2026, the public proxy factor, as the first install loads it.

Figures and their public sources: docs/rules.md ("What it costs"). They stay editable in the admin; later changes
are recorded in history like any other. Loaded by migration 0002 and by the squashed first migration that replaces
0001-0022 on a new database, so it is declared here once.
"""

from decimal import Decimal

AMA_RATE_SHEET = "AMA Internal Use License Agreement Royalty Rates for 2024, 2025 and 2026"
AMA_RATE_SHEET_URL = (
    "https://compliance.ama-assn.org/hc/en-us/articles/16197630737431-"
    "Internal-Use-License-Agreement-Royalty-Rates-for-2024-2025-and-2026"
)

DATA_FILES = [
    ("cpt-standard", "CPT Standard", "The CPT code set with descriptors."),
    ("cpt-rvu", "CPT Relative Value Units", "CPT RVU data file."),
    ("cpt-snomed", "CPT-SNOMED CT map", "CPT-to-SNOMED CT rules-based cross maps."),
    ("ama-hcpcs", "AMA HCPCS Level II", "The AMA's editorial version of HCPCS Level II."),
    ("ama-icd10", "AMA ICD-10-CM/PCS", "The AMA's editorial version of ICD-10-CM/PCS."),
]

# year: (entity fee, entity fee estimated, source, url, notes, {data file: (per user, flat fee)})
SCHEDULES = {
    2021: (
        None,
        False,
        "Vendor FAQs quoting the AMA rate (Practice Fusion, Fusion Web Clinic)",
        "https://practicefusion.com/blog/ama-and-cpt-code-faq/",
        "Entity fee not stated in public sources.",
        {"cpt-standard": ("17.00", "0")},
    ),
    2022: (
        None,
        False,
        "Vendor FAQ quoting the AMA rate (iTherapy)",
        "https://itherapy.com/cpt-code-licensing-fee-faqs/",
        "Entity fee not stated in public sources.",
        {"cpt-standard": ("17.00", "0")},
    ),
    2023: (
        None,
        False,
        "Vendor FAQ quoting the AMA rate (iTherapy)",
        "https://itherapy.com/cpt-code-licensing-fee-faqs/",
        "Entity fee not stated in public sources.",
        {"cpt-standard": ("17.50", "0")},
    ),
    2024: (
        "82.50",
        False,
        AMA_RATE_SHEET,
        AMA_RATE_SHEET_URL,
        "",
        {
            "cpt-standard": ("18.00", "0"),
            "cpt-rvu": ("18.00", "0"),
            "cpt-snomed": ("5.35", "1050.00"),
            "ama-hcpcs": ("19.00", "0"),
            "ama-icd10": ("21.50", "0"),
        },
    ),
    2025: (
        "82.50",
        True,
        AMA_RATE_SHEET,
        AMA_RATE_SHEET_URL,
        "The sheet says 'then-current Entity Fee' without an amount; the 2024 fee is carried as an estimate. "
        "CPT-SNOMED, HCPCS and ICD-10 files are shown as N/A.",
        {"cpt-standard": ("18.50", "0"), "cpt-rvu": ("18.50", "0")},
    ),
    2026: (
        "82.50",
        True,
        AMA_RATE_SHEET,
        AMA_RATE_SHEET_URL,
        "No increase over 2025. Entity fee amount not shown; the 2024 fee is carried as an estimate.",
        {"cpt-standard": ("18.50", "0"), "cpt-rvu": ("18.50", "0")},
    ),
}


def load_reference_data(apps, schema_editor=None) -> None:
    """Create what is missing of the reference data, through `apps` (a migration's models)."""
    DataFile = apps.get_model("licensing", "DataFile")
    RateSchedule = apps.get_model("licensing", "RateSchedule")
    DataFileRate = apps.get_model("licensing", "DataFileRate")
    ProxyFactor = apps.get_model("licensing", "ProxyFactor")
    files = {}
    for code, name, description in DATA_FILES:
        files[code], _ = DataFile.objects.get_or_create(code=code, defaults={"name": name, "description": description})
    for year, (fee, fee_estimated, source, url, notes, rates) in SCHEDULES.items():
        schedule, _ = RateSchedule.objects.get_or_create(
            license_year=year,
            defaults={
                "basis": "published",
                "entity_fee": Decimal(fee) if fee else None,
                "entity_fee_estimated": fee_estimated,
                "projection_step": Decimal("0.50"),
                "source": source,
                "source_url": url,
                "notes": notes,
            },
        )
        for code, (per_user, flat_fee) in rates.items():
            DataFileRate.objects.get_or_create(
                schedule=schedule,
                data_file=files[code],
                defaults={"per_user": Decimal(per_user), "flat_fee": Decimal(flat_fee)},
            )
    ProxyFactor.objects.get_or_create(
        category="ambulatory_ehr",
        base_metric="physicians",
        defaults={
            "factor": Decimal("4"),
            "source": "AMA estimate quoted by Practice Fusion: 4 users per doctor, the doctor included "
            "(https://practicefusion.com/blog/ama-and-cpt-code-faq/)",
        },
    )
