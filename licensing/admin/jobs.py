"""The Jobs pages: every job a person may see, read-only; a job's page follows its progress (a small static
script, or a refresh of the page with JavaScript off) and offers its result once done."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from licensing import access, identifiers, jobs
from licensing.admin.base import NOT_FOUND, AuditedAdmin, WrittenByThePortalMixin
from licensing.models import Job

# Seconds between refreshes of a job's page while the job has not finished (JavaScript off).
REFRESH_SECONDS = 3


@admin.register(Job)
class JobAdmin(WrittenByThePortalMixin, AuditedAdmin):
    """Jobs, read-only for everyone: started by the pages and the scheduler, never edited."""

    list_display = ["created_at", "title", "kind", "state", "progress", "started_by_name", "organization"]
    list_select_related = ["organization"]
    # What the job was asked (a ZIP's filing ids, by the thousand) and its error: the list shows neither.
    list_deferred = ("parameters", "error")
    # A job's page names its import and never shows the import's report, which can run to megabytes.
    page_deferred = ("parameters", "data_import__report")
    list_filter = ["state", "kind"]
    search_fields = ["title", "started_by_name"]
    search_help_text = "Search by what the job does or who started it."
    ordering = ["-created_at", "-pk"]
    list_display_links = ["created_at", "title"]

    def get_queryset(self, request):
        return access.restrict(super().get_queryset(request), request.user, access.VIEW)

    @admin.display(description="Progress")
    def progress(self, obj):
        done, total = (obj.progress_done, obj.progress_total)
        return f"{done:,} of {total:,} {obj.progress_unit}" if total else "-"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:object_id>/progress/", view(self.progress_view), name="licensing_job_progress"),
            path("<int:object_id>/download/", view(self.download_view), name="licensing_job_download"),
            *super().get_urls(),
        ]

    def _job(self, request, object_id, *, page: bool = False) -> Job:
        seen = self.get_queryset(request)
        if page:
            seen = seen.select_related("organization", "data_import").defer(*self.page_deferred)
        else:
            seen = seen.defer(*self.list_deferred)
        job = seen.filter(pk=object_id).first()
        if job is None or not self.has_view_permission(request, job):
            raise Http404(NOT_FOUND)
        return job

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if identifiers.record_id(object_id) is None:
            raise Http404(NOT_FOUND)
        job = self._job(request, object_id, page=True)
        if request.method not in ("GET", "HEAD"):
            # Nothing on a job's page is changed by a form: it is read-only for everyone.
            raise PermissionDenied("A job cannot be changed; it is a record of work the portal did.")
        done, total = jobs.live_progress(job)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": job.title,
            "job": job,
            "done": done,
            "total": total,
            "progress_text": f"{done:,} of {total:,} {job.progress_unit}",
            "refresh_seconds": None if job.finished else REFRESH_SECONDS,
            "progress_url": reverse("admin:licensing_job_progress", args=[job.pk]),
            "download_url": reverse("admin:licensing_job_download", args=[job.pk]) if job.result_file else "",
            "removed_after_days": (job.result_removed_at - job.finished_at).days if job.result_removed_at else None,
            "retention_days": settings.JOB_FILES_RETENTION_DAYS,
        }
        return TemplateResponse(request, "admin/licensing/job.html", context)

    def progress_view(self, request, object_id):
        job = self._job(request, object_id)
        done, total = jobs.live_progress(job)
        return JsonResponse(
            {
                "state": job.state,
                "label": job.get_state_display(),
                "done": done,
                "total": total,
                "finished": job.finished,
            }
        )

    def download_view(self, request, object_id):
        job = self._job(request, object_id)
        if job.result_removed_at:
            # A link kept from before the clean-up: the job's page says the file was removed, and when.
            return HttpResponseRedirect(job.get_absolute_url())
        if not job.result_file:
            raise Http404("This job has no file to download (yet).")
        try:
            stored = job.result_file.open("rb")
        except FileNotFoundError:
            raise Http404("The job's file is no longer stored; start the job again.") from None
        return FileResponse(stored, as_attachment=True, filename=job.result_name or "result")
