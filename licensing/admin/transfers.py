"""Import, export and template downloads on every changelist whose model has a resource (licensing.resources).

The flow: upload (read once, dry run, a DataImport record) -> preview (paged, errors and changes first) ->
confirm (the stored file read once more, its SHA-256 checked, written only if it imports exactly as
previewed). The work is licensing.imports; these views read forms and render. A file of IMPORT_JOB_MIN_ROWS
rows or more is previewed and confirmed by jobs (licensing.job_kinds), and the pages show the job.
"""

from django import forms
from django.conf import settings
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from licensing import exports, imports, job_kinds
from licensing.resources import catalog

FORMAT_PARAM = "format"


class ImportForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="CSV, XLSX (the first sheet is read) or JSON, with the template's column headings.",
        error_messages={"required": "Choose the file to import."},
    )
    change_reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        help_text="Kept on every change the import makes, e.g. 'January recount from the EHR access report'. "
        "Empty: 'Import <file name>'.",
        widget=forms.TextInput(attrs={"size": 70}),
    )


class TransfersMixin:
    """Adds the import page and the export and template downloads to an admin whose model has a resource."""

    change_list_template = "admin/licensing/change_list_transfers.html"

    @property
    def resource_entry(self):
        return catalog.for_model(self.model)

    def get_urls(self):
        urls = super().get_urls()
        if self.resource_entry is None:
            return urls
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name=f"{prefix}_import"),
            path("export/", view(self.export_view), name=f"{prefix}_export"),
            path("template/", view(self.template_view), name=f"{prefix}_import_template"),
            *urls,
        ]

    def may_import(self, request) -> bool:
        entry = self.resource_entry
        return entry is not None and imports.may_import(request.user, entry[0])

    def changelist_view(self, request, extra_context=None):
        query = request.GET.copy()
        query.pop("p", None)
        context = {
            "transfers": self.resource_entry is not None,
            "may_import": self.may_import(request),
            "export_query": query.urlencode(),
        }
        return super().changelist_view(request, {**context, **(extra_context or {})})

    # Said above the upload form where a file needs more than the column guide explains (a roster).
    import_intro = ""

    def import_form(self, request) -> ImportForm:
        """The upload form; an admin whose imports need more than the file (a roster's application) extends it."""
        return ImportForm(request.POST or None, request.FILES or None)

    def import_parameters(self, form) -> dict | None:
        """What the import needs besides the file, read from the valid form (licensing.imports.run `parameters`)."""
        return None

    def import_view(self, request):
        if not self.may_import(request):
            raise PermissionDenied("Your role does not allow importing these records.")
        name, resource_class = self.resource_entry
        form = self.import_form(request)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            content = upload.read()
            parameters = self.import_parameters(form)
            # A large file is previewed by a job; the page follows it (licensing.job_kinds).
            job = job_kinds.import_as_job(
                resource_name=name,
                file_name=upload.name,
                content=content,
                actor=request.user,
                reason=form.cleaned_data["change_reason"],
                parameters=parameters,
            )
            if job is not None:
                return HttpResponseRedirect(job.get_absolute_url())
            record = imports.run(
                resource_name=name,
                file_name=upload.name,
                content=content,
                actor=request.user,
                reason=form.cleaned_data["change_reason"],
                dry_run=True,
                keep_file=True,
                parameters=parameters,
            )
            if imports.visible(record, request.user):
                return HttpResponseRedirect(reverse("admin:licensing_dataimport_change", args=[record.pk]))
            # A record filed where the person cannot see it (licensing.imports.SPLIT_FILE): say why here.
            for problem in record.report.get("problems", []):
                form.add_error(None, problem)
        resource = resource_class(actor=request.user)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Import {resource.title.lower()}",
            "intro": self.import_intro,
            "form": form,
            "guide": exports.column_guide(resource),
            "template_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import_template"),
            "limit_mb": settings.IMPORT_MAX_UPLOAD_BYTES // 1_000_000,
        }
        return TemplateResponse(request, "admin/licensing/import.html", context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        name, resource_class = self.resource_entry
        # The changelist reads its filters and search from the query string; the format is not one of them.
        request.GET = request.GET.copy()
        file_format = request.GET.pop(FORMAT_PARAM, ["csv"])[-1]
        if file_format not in exports.FORMATS:
            raise Http404(f"'{file_format}' is not an export format; choose CSV, XLSX or JSON.")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # As the list itself answers a filter it does not offer: back to the list, which says so.
            changelist_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            return HttpResponseRedirect(f"{changelist_url}?e=1")
        queryset = changelist.get_queryset(request)
        resource = resource_class(actor=request.user)
        return exports.response(resource, queryset, file_format=file_format, file_stem=name)

    def template_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        name, resource_class = self.resource_entry
        file_format = request.GET.get(FORMAT_PARAM, "xlsx")
        if file_format not in exports.FORMATS:
            raise Http404(f"'{file_format}' is not a template format; choose CSV, XLSX or JSON.")
        resource = resource_class(actor=request.user)
        return exports.template_response(resource, file_format=file_format, file_stem=f"{name}-template")
