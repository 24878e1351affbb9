"""Delete the result files of jobs finished more than JOB_FILES_RETENTION_DAYS ago (licensing.jobs.remove_old_results),
and the uploads finished jobs still hold (licensing.jobs.remove_leftover_inputs).

Beat runs it every night (licensing.tasks.remove_old_job_files); without Celery, run this command daily from cron
or a timer (docs/deploy.md). Each job's page then says its file was removed and when; running it twice removes
nothing twice.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from licensing import jobs


class Command(BaseCommand):
    help = (
        "Delete the result files (ZIPs, reports) of jobs finished more than JOB_FILES_RETENTION_DAYS days ago and "
        "record the removal on each job; uploads that finished jobs still hold are removed too."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            metavar="N",
            help=f"Keep files N days instead of JOB_FILES_RETENTION_DAYS ({settings.JOB_FILES_RETENTION_DAYS}).",
        )

    def handle(self, *args, days=None, **options):
        days = settings.JOB_FILES_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError(f"--days is {days}: give the days to keep job files, 1 or more.")
        removed = jobs.remove_old_results(actor=None, days=days)
        for job in removed:
            self.stdout.write(f"Removed {job.result_name or 'the result file'} of job #{job.pk}: {job.title}")
        self.stdout.write(
            self.style.SUCCESS(f"{len(removed)} result file(s) removed of jobs finished more than {days} days ago.")
        )
        uploads = jobs.remove_leftover_inputs(actor=None)
        if uploads:
            self.stdout.write(self.style.SUCCESS(f"{len(uploads)} upload(s) removed that finished jobs still held."))
