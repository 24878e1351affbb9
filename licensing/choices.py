"""The portal's vocabularies, one TextChoices per concept: models, rules and templates all import them from here.

A stored value is written once, here; everywhere else names it (`LicenseStatus.ACTIVE`), so a typo is an
AttributeError rather than a silent mismatch.
"""

from django.db import models


class OrganizationKind(models.TextChoices):
    HEALTH_SYSTEM = "health_system", "Health system"
    HOSPITAL = "hospital", "Hospital"
    AMBULATORY_CLINIC = "ambulatory_clinic", "Ambulatory clinic"
    PHYSICIAN_GROUP = "physician_group", "Physician group"
    OTHER = "other", "Other"


class ContactRole(models.TextChoices):
    PRIMARY = "primary", "Primary contact"
    BILLING = "billing", "Billing contact"
    LEGAL = "legal", "Legal contact"


class ApplicationCategory(models.TextChoices):
    AMBULATORY_EHR = "ambulatory_ehr", "Ambulatory EHR"
    INPATIENT_EHR = "inpatient_ehr", "Inpatient EHR"
    PRACTICE_MANAGEMENT = "practice_management", "Practice management"
    BILLING_RCM = "billing_rcm", "Billing / revenue cycle"
    CHARGEMASTER = "chargemaster", "Chargemaster"
    CODING = "coding", "Coding / encoder"
    ANALYTICS = "analytics", "Analytics / reporting"
    LAB_RADIOLOGY = "lab_radiology", "Lab / radiology"
    OTHER = "other", "Other"


class Deployment(models.TextChoices):
    ON_PREMISE = "on_premise", "On-premise"
    HOSTED = "hosted", "Hosted"
    SAAS = "saas", "SaaS"


class Coverage(models.TextChoices):
    """Who licenses the CPT content of an application to the organization."""

    DIRECT = "direct", "Own AMA license"
    VENDOR = "vendor", "Vendor's license"
    DISTRIBUTOR = "distributor", "Third-party distributor"
    NO_CPT = "no_cpt", "No CPT content"


class BaseMetric(models.TextChoices):
    """Base metrics of the AMA User Proxy Model (AMA HCDO licensing page; staffed beds named by AMA news)."""

    PHYSICIANS = "physicians", "Physicians"
    BILLING_PROVIDERS = "billing_providers", "Billing providers"
    STAFFED_BEDS = "staffed_beds", "Staffed beds"
    EMPLOYEES = "employees", "Employees"


class CountMethod(models.TextChoices):
    COUNTED = "counted", "Counted users"
    PROXY = "proxy", "User Proxy Model"


class UserKind(models.TextChoices):
    """How a role on a roster counts under the AMA user definition (licensing.counting, docs/rules.md).

    The order is the order of the definition: a person is counted once, under the first kind that applies.
    """

    DIRECT = "a", "(a) accesses CPT directly"
    PROGRAM = "b", "(b) produces output with it"
    OUTPUT = "c", "(c) uses its output"
    NOT_A_USER = "none", "Not a user"


class LicenseRoute(models.TextChoices):
    DIRECT = "direct", "Direct (AMA)"
    VENDOR = "vendor", "Vendor"
    DISTRIBUTOR = "distributor", "Distributor"


class LicenseStatus(models.TextChoices):
    NEEDED = "needed", "Needed"
    DRAFTED = "drafted", "Application drafted"
    SUBMITTED = "submitted", "Application submitted"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    NOT_REQUIRED = "not_required", "Not required"
    COVERED_BY_VENDOR = "covered_by_vendor", "Covered by vendor"


class RateBasis(models.TextChoices):
    PUBLISHED = "published", "Published"
    ESTIMATED = "estimated", "Estimated"


class FilingStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class MembershipRole(models.TextChoices):
    OFFICER = "officer", "Compliance officer"
    AUDITOR = "auditor", "Auditor"


class Position(models.TextChoices):
    """Where an application stands against its license in a license year (licensing.position)."""

    COMPLIANT = "compliant", "Compliant"
    UNDER_LICENSED = "under_licensed", "Under-licensed"
    OVER_LICENSED = "over_licensed", "Over-licensed"
    UNLICENSED = "unlicensed", "Unlicensed"
    COVERED_BY_VENDOR = "covered_by_vendor", "Covered by vendor"
    NOT_REQUIRED = "not_required", "Not required"
    NOT_COUNTED = "not_counted", "Users not counted"


class ImportOutcome(models.TextChoices):
    """What became of one step of an import (licensing.imports)."""

    PREVIEWED = "previewed", "Previewed (dry run, nothing written)"
    REFUSED = "refused", "Refused (nothing written)"
    CONFIRMED = "confirmed", "Confirmed (written)"


class ReminderKind(models.TextChoices):
    """What a reminder e-mail item is about (licensing.reminders); the ending ones name their threshold."""

    LICENSE_ENDING_90 = "license_ending_90", "License ends within 90 days"
    LICENSE_ENDING_30 = "license_ending_30", "License ends within 30 days"
    LICENSE_ENDING_7 = "license_ending_7", "License ends within 7 days"
    LICENSE_EXPIRED = "license_expired", "License expired"
    VENDOR_COVERAGE_LAPSING = "vendor_coverage_lapsing", "Vendor coverage lapsing"
    COUNT_STALE = "count_stale", "User count older than 12 months"
    FILING_UNANSWERED = "filing_unanswered", "Submitted application unanswered for over 30 days"

    @classmethod
    def ending(cls, threshold: int) -> "ReminderKind":
        """The kind for a license ending within `threshold` days (one of attention.ENDING_THRESHOLDS)."""
        return cls(f"license_ending_{threshold}")


class JobKind(models.TextChoices):
    """What a job does (licensing.jobs)."""

    IMPORT = "import", "Import"
    FILINGS_ZIP = "filings_zip", "ZIP of filings"
    COMPLIANCE_REPORT = "compliance_report", "Compliance report"
    REMINDERS = "reminders", "Reminders"


class JobState(models.TextChoices):
    """Where a job is: waiting for a worker, running, or finished one way or the other."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
