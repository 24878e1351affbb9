"""Purge the people of rosters older than the retention period (services.roster_people_purge).

    manage.py purge_roster_people --dry-run
    manage.py purge_roster_people --older-than-years 7 --actor admin

Without --older-than-years, ROSTER_RETENTION_YEARS (7). Running it twice purges nothing twice.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing import services
from licensing.management.commands.import_data import find_actor


class Command(BaseCommand):
    help = (
        "Remove the identifiers, names, e-mails and NPIs of the people of rosters taken more than N years ago (from "
        "their records and their history), keeping the rosters' totals, the counts and the files' SHA-256s; each "
        "organization's purge is recorded on its audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-years",
            type=int,
            metavar="N",
            help=f"Purge rosters taken more than N years ago (default ROSTER_RETENTION_YEARS, "
            f"{settings.ROSTER_RETENTION_YEARS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be purged; remove nothing.")
        parser.add_argument(
            "--actor", metavar="USERNAME", help="The administrator recorded as purging (default: the system)."
        )

    def handle(self, *args, older_than_years=None, dry_run=False, actor=None, **options):
        years = settings.ROSTER_RETENTION_YEARS if older_than_years is None else older_than_years
        person = find_actor(actor) if actor else None
        try:
            plans = services.roster_people_purge(actor=person, older_than_years=years, dry_run=dry_run)
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)]))) from None
        for plan in plans:
            self.stdout.write(plan.summary())
            for roster in plan.rosters:
                self.stdout.write(f"  {roster}: {roster.application}")
        people = sum(len(plan.people) for plan in plans)
        rosters = sum(len(plan.rosters) for plan in plans)
        verb = "would be purged (dry run: nothing removed)" if dry_run else "purged"
        self.stdout.write(
            self.style.SUCCESS(f"{people} people of {rosters} roster(s) older than {years} years {verb}.")
        )
