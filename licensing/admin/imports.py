"""The Imports pages: every import step's record, read-only; a dry run's page is its preview and holds the
confirm button (licensing.admin.transfers has the upload page)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from licensing import access, imports, job_kinds
from licensing.admin.base import NOT_FOUND, AuditedAdmin, WrittenByThePortalMixin
from licensing.models import DataImport
from licensing.resources import catalog

PREVIEW_PAGE_SIZE = 100


@admin.register(DataImport)
class DataImportAdmin(WrittenByThePortalMixin, AuditedAdmin):
    """Every import step, read-only for everyone; a dry run's page is its preview and holds the confirm button."""

    list_display = ["created_at", "file_name", "what", "outcome", "actor_name", "counts", "organization"]
    list_select_related = ["organization"]
    # The preview of every row, shown on the import's own page only.
    list_deferred = ("report",)
    list_filter = ["outcome", "resource", "dry_run"]
    search_fields = ["file_name", "actor_name", "=file_sha256"]
    search_help_text = "Search by file name, person or exact SHA-256."
    ordering = ["-created_at", "-pk"]
    list_display_links = ["created_at", "file_name"]

    def get_queryset(self, request):
        return access.restrict(super().get_queryset(request), request.user, access.VIEW)

    @admin.display(description="What")
    def what(self, obj):
        resource = catalog.RESOURCES.get(obj.resource)
        return resource.title if resource else obj.resource

    @admin.display(description="New / updated / unchanged / errors")
    def counts(self, obj):
        return f"{obj.new_rows} / {obj.updated_rows} / {obj.unchanged_rows} / {obj.error_rows}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_queryset(request).select_related("organization", "preview_of").filter(pk=object_id).first()
        if record is None or not self.has_view_permission(request, record):
            raise Http404(NOT_FOUND)
        problem = self.confirmation_problem(request, record)
        if request.method == "POST":
            if record.actor_id != request.user.pk or not imports.may_import(request.user, record.resource):
                raise PermissionDenied("Only the person who uploaded the file can confirm its import.")
            if problem is not None:
                messages.error(request, problem)
                return HttpResponseRedirect(request.path)
            return self.confirm(request, record)
        report = record.report or {}
        page = Paginator(report.get("entries", []), PREVIEW_PAGE_SIZE).get_page(request.GET.get("p"))
        model_opts = self.model_opts_of(record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(record),
            "record": record,
            "report": report,
            "page_obj": page,
            "may_confirm": problem is None,
            "target_opts": model_opts,
            "trail_url": self.trail_url(request, record),
            "confirmation": record.confirmations.filter(outcome=DataImport.Outcome.CONFIRMED).first(),
        }
        return TemplateResponse(request, "admin/licensing/import_preview.html", context)

    def model_opts_of(self, record):
        resource = catalog.RESOURCES.get(record.resource)
        return resource._meta.model._meta if resource else None

    def trail_url(self, request, record) -> str:
        if record.outcome != DataImport.Outcome.CONFIRMED or record.organization_id is None:
            return ""
        url = reverse("admin:licensing_organization_audit_trail", args=[record.organization_id])
        return f"{url}?data_import={record.pk}"

    def confirmation_problem(self, request, record) -> str | None:
        # The file is on the shared storage, not on the server that took the upload; if it is gone from there
        # (or that storage is not shared), the person is told, rather than the confirm failing.
        if not record.upload or not record.upload.storage.exists(record.upload.name):
            return "The previewed file is no longer stored; upload it again."
        return imports.confirmation_problem(record, request.user)

    def confirm(self, request, record):
        job = job_kinds.confirm_as_job(preview=record, actor=request.user)
        if job is not None:
            return HttpResponseRedirect(job.get_absolute_url())
        with record.upload.open("rb") as stored:
            content = stored.read()
        done = imports.run(
            resource_name=record.resource,
            file_name=record.file_name,
            content=content,
            actor=request.user,
            reason=record.reason,
            dry_run=False,
            preview=record,
        )
        if done.outcome == DataImport.Outcome.CONFIRMED:
            messages.success(
                request,
                format_html(
                    "Imported {}: {} new, {} updated, {} unchanged. Every change is on the audit trail with this "
                    "import's number, #{}.",
                    record.file_name,
                    done.new_rows,
                    done.updated_rows,
                    done.unchanged_rows,
                    done.pk,
                ),
            )
        else:
            messages.error(request, "Nothing was written. " + " ".join(done.report.get("problems", [])[:3]))
        return HttpResponseRedirect(reverse("admin:licensing_dataimport_change", args=[done.pk]))
