"""E-mail each compliance officer one digest of what needs attention, each item once (licensing.reminders).

Run it daily (docs/reminders.md has a cron line and a systemd timer). `--date` runs it as of another day;
`--dry-run` prints who would get what and sends and records nothing.
"""

import datetime
import re

from django.core.management.base import BaseCommand, CommandError

from licensing import reminders


class Command(BaseCommand):
    help = (
        "E-mail each compliance officer a digest of licenses ending or expired, lapsing vendor coverage, stale "
        "counts and unanswered applications in their organizations; each reminder is sent once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date", metavar="YYYY-MM-DD", help="Run as of this day instead of today (e.g. to catch up a missed day)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print who would get what; send nothing and record nothing."
        )

    def handle(self, *args, date=None, dry_run=False, **options):
        today = self._parse(date) if date else None
        run = reminders.send_reminders(today=today, dry_run=dry_run)
        verb = "Would send" if dry_run else "Sent"
        self.stdout.write(f"Reminders for {run.today:%Y-%m-%d}{' (dry run)' if dry_run else ''}:")
        for digest in run.sent:
            self._describe(f"{verb} to {digest.name} <{digest.email}>", digest)
        for digest in run.unreachable:
            self._describe(f"Not sent to {digest.name}: no e-mail address (add one to the person's account)", digest)
        for digest, error in run.failed:
            self.stderr.write(
                f"Not sent to {digest.name} <{digest.email}>: {error}. Nothing was recorded for them; the next run "
                "tries again."
            )
        if not (run.sent or run.unreachable or run.failed):
            self.stdout.write("Nothing new to remind anyone of.")
        items = sum(len(digest.items) for digest in run.sent)
        if dry_run:
            summary = (
                f"Dry run: {len(run.sent)} e-mail(s) with {items} item(s) would be sent; nothing sent or recorded."
            )
        else:
            summary = f"{len(run.sent)} e-mail(s) sent, {run.recorded} reminder(s) recorded."
        self.stdout.write(self.style.SUCCESS(summary))
        if run.failed:
            raise CommandError(f"{len(run.failed)} e-mail(s) could not be sent; see above.", returncode=1)

    def _describe(self, heading: str, digest: reminders.Digest) -> None:
        self.stdout.write(f"{heading}: {digest.subject}")
        for item in digest.items:
            self.stdout.write(
                f"  - {item.organization_name}: {item.kind.label}: {item.label} (due {item.due_on:%Y-%m-%d})"
            )

    def _parse(self, text: str) -> datetime.date:
        try:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                raise ValueError(text)
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise CommandError(
                f"--date {text!r} is not a date: give it as YYYY-MM-DD, e.g. --date 2027-03-15."
            ) from None
