"""The CPT licensing application's content: what it includes, what must be complete, and the snapshot.

The snapshot is plain JSON: everything the PDF shows, computed once from the data. A submitted
filing keeps its snapshot and PDF, so what was sent can always be shown again exactly.
Field list: the legacy AMA Internal Use License Application, as docs/rules.md describes it.
"""

from decimal import Decimal

from django.utils import timezone

from licensing import counting, reconciliation_selectors, royalty, standing
from licensing.identifiers import format_ein
from licensing.models import Application, Contact, DataFile, UserCount

ATTESTATION = (
    "I confirm that the responses in this application are accurate and complete, and that the "
    "organization will notify the American Medical Association of any change to this information, "
    "including changes in the number of users of each application."
)
CONFIDENTIALITY = (
    "The AMA keeps the applicant's information confidential; the applicant keeps the AMA's licensing "
    "information confidential."
)


def needs_direct_license(application, license_year: int) -> bool:
    """Applications the organization licenses itself from the AMA (not vendor-covered, not CPT-free)."""
    return application.cpt_coverage == Application.Coverage.DIRECT and application.in_service_during(license_year)


def default_applications(organization, license_year: int) -> list:
    return [app for app in organization.applications.all() if needs_direct_license(app, license_year)]


def submission_problems(filing) -> list[str]:
    """What stops a filing from being submitted, each in words that say how to fix it."""
    problems = []
    if not filing.signatory_name.strip() or not filing.signatory_title.strip():
        problems.append("Enter the signatory's name and title: the AMA needs a person who signs for the organization.")
    if not (filing.attests_accurate and filing.attests_will_report_changes):
        problems.append("The signatory must confirm both attestations (accurate and complete; will report changes).")
    applications = list(filing.applications.all()) if filing.pk else []
    if not applications:
        problems.append(
            f"The filing includes no applications. Add the organization's CPT applications for {filing.license_year} "
            "(Applications, in the organization's page), then include them here."
        )
    counts = list(
        UserCount.objects.filter(application__in=applications, license_year=filing.license_year).select_related(
            "application"
        )
    )
    counted = {count.application_id for count in counts}
    for application in applications:
        if application.pk not in counted:
            problems.append(
                f"{application.name}: no user count for {filing.license_year}. Add one under User counts "
                "(counted users or the User Proxy Model)."
            )
        if not application.has_cpt:
            problems.append(f"{application.name}: recorded as having no CPT content; remove it from the filing.")
    for warning in _implausible(counts):
        if not warning.acknowledged:
            problems.append(plausibility_problem(warning))
    return problems


def plausibility_problem(warning: standing.Implausible) -> str:
    return (
        f"{warning.count.application.name}: {warning.comparison.sentence()}. The AMA compares reported users with "
        "HIMSS, AHA and CMS data: correct the count, or acknowledge this warning with a reason (below)."
    )


def _implausible(counts: list) -> list[standing.Implausible]:
    comparisons = standing.proxy_comparisons(counts)
    return [
        standing.Implausible(count, comparisons[count.pk])
        for count in sorted(counts, key=lambda count: count.application.name)
        if count.pk in comparisons and comparisons[count.pk].implausible
    ]


def plausibility_warnings(filing) -> list[standing.Implausible]:
    """The filing's counts far below the User Proxy Model's estimate, acknowledged or not."""
    if not filing.pk:
        return []
    counts = UserCount.objects.filter(application__filings=filing, license_year=filing.license_year).select_related(
        "application", "plausibility_acknowledged_by"
    )
    return _implausible(list(counts))


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(royalty.money(amount))


def _contact(organization) -> dict:
    contacts = {contact.role: contact for contact in organization.contacts.all()}
    person = (
        contacts.get(Contact.Role.PRIMARY) or contacts.get(Contact.Role.LEGAL) or next(iter(contacts.values()), None)
    )
    if person is None:
        return {"name": "", "title": "", "phone": organization.phone, "email": ""}
    return {
        "name": person.name,
        "title": person.title,
        "phone": person.phone or organization.phone,
        "email": person.email,
    }


def _count_section(count) -> dict:
    if count is None:
        return {"method": None, "users": None, "explanation": "Not counted"}
    section = {
        "method": count.method,
        "method_label": count.get_method_display(),
        "users": counting.users(count),
        "explanation": counting.explain(count),
    }
    if count.method == counting.PROXY:
        section["proxy"] = {
            "metric": count.get_base_metric_display(),
            "value": str(count.metric_value),
            "source": count.metric_source,
            "factor": str(count.factor),
        }
    else:
        section["counted"] = {
            "direct": count.direct_users or 0,
            "program": count.program_users or 0,
            "output": count.output_users or 0,
        }
    return section


def _fee_note(line, file_names: dict, year: int) -> str:
    """The royalty note in words: data files by name, not by code."""
    if line.unpriced_files:
        return f"No {year} rate for: " + ", ".join(file_names.get(code, code) for code in line.unpriced_files)
    return line.note


def snapshot(filing, *, generated_at=None) -> dict:
    """Everything the application PDF shows, as JSON-ready values (strings for money)."""
    organization = filing.organization
    year = filing.license_year
    generated_at = generated_at or timezone.now()
    applications = list(
        filing.applications.select_related("vendor")
        .prefetch_related("data_files", "users_at_other_entities")
        .order_by("name")
    )
    table = standing.rate_table()
    rates, rates_problem = standing.rates_for(table, year)
    by_app = standing.standings(applications, [year], table=table) if applications else {}
    file_names = dict(DataFile.objects.values_list("code", "name"))
    # "Users at other legal entities" is pre-filled from the rosters where they exist: the entities the officer
    # typed on the application, and those employing people of its latest roster of the year (docs/rules.md).
    from_rosters = reconciliation_selectors.other_entities_by_application([a.pk for a in applications], year)
    sections, fee_lines = [], []
    for application in applications:
        item = by_app[(application.pk, year)]
        line = item.royalty
        sections.append(
            {
                "name": application.name,
                "category": application.get_category_display(),
                "vendor": str(application.vendor) if application.vendor else "",
                "version": application.product_version,
                "deployment": application.get_deployment_display(),
                "internal_use": application.internal_use,
                "coverage": application.get_cpt_coverage_display(),
                "data_files": [data_file.name for data_file in application.data_files.all()],
                "internet_facing": application.internet_facing,
                "internet_use": application.internet_use,
                "users_outside_us": application.users_outside_us,
                "countries_outside_us": application.countries_outside_us,
                "other_entities": sorted(
                    {str(org) for org in application.users_at_other_entities.all()}
                    | set(from_rosters.get(application.pk, []))
                ),
                "other_entities_from_rosters": from_rosters.get(application.pk, []),
                "count": _count_section(item.count),
            }
        )
        fee_lines.append(
            {
                "application": application.name,
                "users": item.users,
                "per_user": _money(line.per_user) if line else None,
                "flat_fees": _money(line.flat_fees) if line else None,
                "amount": _money(line.amount) if line else None,
                "note": _fee_note(line, file_names, year) if line else rates_problem,
                # Whether this row's figures rest on projected rates; the PDF labels them (royalty.ESTIMATE_MARK).
                "estimate": bool(line and line.is_estimate),
            }
        )
    total = None
    if rates is not None:
        total = royalty.organization_royalty(
            [(a, by_app[(a.pk, year)].users, by_app[(a.pk, year)].license) for a in applications], rates=rates
        )
    parent = organization.parent
    return {
        "document_id": filing.document_id,
        "generated_at": generated_at.isoformat(),
        "license_year": year,
        "organization": {
            "name": organization.name,
            "slug": organization.slug,
            "parent": parent.name if parent else "",
            "street": organization.street,
            "city": organization.city,
            "state": organization.state,
            "postal_code": organization.postal_code,
            "address": organization.address,
            "ein": format_ein(organization.ein),
            "npi": organization.npi,
            "phone": organization.phone,
            "contact": _contact(organization),
        },
        "other_entities": sorted({name for section in sections for name in section["other_entities"]}),
        # Kept as typed per application: country names such as "Korea, Republic of" contain commas.
        "users_outside_us": sorted(
            {
                section["countries_outside_us"].strip()
                for section in sections
                if section["users_outside_us"] and section["countries_outside_us"].strip()
            }
        ),
        "internet_use": [
            {"application": section["name"], "explanation": section["internet_use"]}
            for section in sections
            if section["internet_facing"]
        ],
        "applications": sections,
        "fees": {
            "rate_year": year,
            "rates_label": rates.label if rates else rates_problem,
            "is_estimate": bool(rates.is_estimate) if rates else True,
            "entity_fee": _money(total.entity_fee) if total else None,
            "entity_fee_note": total.entity_fee_note if total else "",
            "per_user_rates": (
                [
                    {
                        "data_file": file_names.get(code, code),
                        "per_user": _money(rate),
                        "flat_fee": _money(rates.flat_fee[code]) if code in rates.flat_fee else None,
                        "estimate": rates.is_estimate,
                    }
                    for code, rate in sorted(rates.per_user.items())
                ]
                if rates
                else []
            ),
            "lines": fee_lines,
            "applications_total": _money(total.applications_total) if total else None,
            "total": _money(total.total) if total else None,
            # Added after the first filings were frozen: their snapshots lack these, and their PDFs no row label.
            "applications_total_estimate": bool(total and total.applications_total_is_estimate),
            "entity_fee_estimate": bool(total and total.entity_fee_is_estimate),
            "total_estimate": bool(total and total.is_estimate),
        },
        "attestation": {
            "text": ATTESTATION,
            "confidentiality": CONFIDENTIALITY,
            "accurate": filing.attests_accurate,
            "will_report_changes": filing.attests_will_report_changes,
            "signatory_name": filing.signatory_name,
            "signatory_title": filing.signatory_title,
        },
        "status": filing.status,
    }
