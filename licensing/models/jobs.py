"""Jobs: long work done off the request (a large import, a ZIP of filings, a report, the reminders), one record
each, which a person watches and an auditor reads."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from licensing.audit.records import AuditedHistoricalRecords
from licensing.choices import JobKind, JobState
from licensing.models.imports import DataImport
from licensing.models.organizations import Organization
from licensing.ownership import OwnedBy


class Job(models.Model):
    """One piece of long work: who started it, what and for which organization, when, how far it got, and its
    result file or its error in plain words.

    The row is the truth about a job (Celery keeps no results): a worker that picks the job up again after a
    crash reads it and never repeats finished work (licensing.jobs.perform).
    """

    Kind = JobKind
    State = JobState

    kind = models.CharField("what", max_length=32, choices=Kind.choices)
    # The organization the job concerns; empty for an administrator's system-wide job, which only
    # administrators see.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Kept as text too, so deleting an account never blanks who started what; empty for the scheduler.
    started_by_name = models.CharField("started by", max_length=150, blank=True)
    title = models.CharField("job", max_length=300, help_text='What the job does, e.g. "Import of counts.csv".')
    parameters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField("queued at", auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    progress_done = models.PositiveIntegerField("done", default=0)
    progress_total = models.PositiveIntegerField("of", default=0)
    progress_unit = models.CharField(max_length=20, default="rows")
    # What the job reads (an uploaded file) and what it produces, both through Django's storage API.
    input_file = models.FileField(upload_to="jobs/input/", blank=True, max_length=300)
    result_file = models.FileField(upload_to="jobs/results/", blank=True, max_length=300)
    result_name = models.CharField("result file name", max_length=255, blank=True)
    # Set when the retention clean-up (licensing.jobs.remove_old_results) deleted the result file.
    result_removed_at = models.DateTimeField("result file removed", null=True, blank=True)
    data_import = models.ForeignKey(
        DataImport, on_delete=models.PROTECT, null=True, blank=True, related_name="jobs", verbose_name="import"
    )
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    history = AuditedHistoricalRecords()
    # Written by licensing.jobs only: people watch their jobs and download results; nobody edits one.
    ownership = OwnedBy("organization", label="{title}", officers_may=[])

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress_done__lte=models.F("progress_total")) | models.Q(progress_total=0),
                name="job_progress_within_total",
                violation_error_message="A job cannot have done more than its total.",
            )
        ]

    def __str__(self):
        return f"{self.title} ({self.get_state_display().lower()})"

    def get_absolute_url(self):
        return reverse("admin:licensing_job_change", args=[self.pk])

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)
