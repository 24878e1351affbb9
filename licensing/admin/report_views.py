"""The organization's "Compliance report" page: choose the year, whether affiliates are included and the format,
and download the report (licensing.reports) as CSV, XLSX or PDF.

Officers and auditors may download it: the page only reads. Affiliates the person may not see are left out
(licensing.reports.legal_entities); bad input shows the form again with what to fix.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect

from licensing import job_kinds, reports
from licensing.admin.organization_pages import OrganizationPage
from licensing.models.years import FIRST_LICENSE_YEAR, LAST_LICENSE_YEAR
from licensing.shown_year import shown_year


class ReportForm(forms.Form):
    """Read from the query string, so a report's address can be kept and opened again."""

    year = forms.IntegerField(
        label="License year",
        min_value=FIRST_LICENSE_YEAR,
        max_value=LAST_LICENSE_YEAR,
        widget=forms.NumberInput(attrs={"size": 6}),
        error_messages={
            "required": "Enter the license year, e.g. 2026.",
            "invalid": "Enter the license year as four digits, e.g. 2026.",
            "min_value": f"Choose a license year from {FIRST_LICENSE_YEAR} to {LAST_LICENSE_YEAR}.",
            "max_value": f"Choose a license year from {FIRST_LICENSE_YEAR} to {LAST_LICENSE_YEAR}.",
        },
    )
    include_affiliates = forms.BooleanField(
        label="Include affiliates",
        required=False,
        help_text="Each affiliate you may see is reported as its own legal entity, with its own entity fee.",
    )
    format = forms.ChoiceField(
        label="Format",
        choices=list(reports.FORMATS.items()),
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a format: CSV, XLSX or PDF.",
            "invalid_choice": "“%(value)s” is not a format of the report; choose CSV, XLSX or PDF.",
        },
    )

    def __init__(self, *args, has_affiliates: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_affiliates:
            # Nothing to include: the choice is not offered.
            del self.fields["include_affiliates"]

    def for_the_background(self) -> "ReportForm":
        """The same choices in the "prepare it in the background" form, labelled apart from the download form's
        on the same page (so each field has its own name for screen readers and tests)."""
        self.fields["year"].label = "Year of the report"
        self.fields["format"].label = "File format"
        self.fields["format"].widget = forms.Select(choices=self.fields["format"].choices)
        if "include_affiliates" in self.fields:
            self.fields["include_affiliates"].label = "Report the affiliates too"
        return self

    def messages(self) -> list[str]:
        return [message for errors in self.errors.values() for message in errors]


# The background form's fields are named job-year, job-format ...: the page holds both forms.
JOB_PREFIX = "job"


class ReportPage(OrganizationPage):
    """GET shows the form; GET with `format` downloads the report, or shows the form again with the problems.
    POST (the "prepare in the background" button) writes it by a job instead, for a health system's large
    report, and shows the job's page, which offers the file when ready."""

    template_name = "admin/licensing/organization/report.html"
    title = "Compliance report: {organization}"
    refusal = "The compliance report needs view access to this organization."
    methods = ("GET", "POST")

    def respond(self, request, organization):
        entities = reports.legal_entities(organization, viewer=request.user, include_affiliates=True)
        has_affiliates = len(entities) > 1
        initial = {"year": shown_year(), "include_affiliates": has_affiliates, "format": "pdf"}
        may_start_job = job_kinds.may_start(request.user, organization.pk)
        if request.method == "POST":
            if not may_start_job:
                raise PermissionDenied("Preparing the report in the background is for officers; download it above.")
            job_form = ReportForm(request.POST, has_affiliates=has_affiliates, prefix=JOB_PREFIX).for_the_background()
            if job_form.is_valid():
                job = job_kinds.report_as_job(
                    organization=organization, choice=job_form.cleaned_data, actor=request.user
                )
                return HttpResponseRedirect(job.get_absolute_url())
            form = job_form
        else:
            job_form = ReportForm(
                initial=initial, has_affiliates=has_affiliates, prefix=JOB_PREFIX
            ).for_the_background()
            if "format" in request.GET:
                form = ReportForm(request.GET, has_affiliates=has_affiliates)
            else:
                form = ReportForm(initial=initial, has_affiliates=has_affiliates)
        if form.is_bound and form.is_valid() and request.method == "GET":
            return download(request, organization, form.cleaned_data)
        return self.render(
            request,
            organization,
            form=form if form.prefix is None else ReportForm(initial=initial, has_affiliates=has_affiliates),
            job_form=job_form if may_start_job else None,
            problems=form.messages() if form.is_bound else [],
            affiliates=[entity.name for entity in entities[1:]],
        )


def download(request, organization, choice: dict) -> HttpResponse:
    file_format = choice["format"]
    report = reports.compliance_report(
        organization,
        choice["year"],
        include_affiliates=bool(choice.get("include_affiliates")),
        viewer=request.user,
    )
    response = HttpResponse(reports.write(report, file_format), content_type=reports.CONTENT_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="{report.file_name(file_format)}"'
    return response
