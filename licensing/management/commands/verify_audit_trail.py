"""Walk every history chain and report tampering; exit status 1 when anything is broken."""

from django.core.management.base import BaseCommand, CommandError

from licensing.audit import verification
from licensing.models import Organization


class Command(BaseCommand):
    help = "Check that no history row was edited, deleted or bypassed; reports each break and exits 1 if any."

    def add_arguments(self, parser):
        parser.add_argument("--organization", metavar="SLUG", help="Check only this organization's records.")

    def handle(self, *args, organization=None, **options):
        organization_id = None
        if organization:
            organization_id = Organization.objects.filter(slug=organization).values_list("pk", flat=True).first()
            if organization_id is None:
                raise CommandError(f"No organization with slug '{organization}'. Check the slug in the admin.")
        breaks = verification.verify(organization_id=organization_id)
        for broken in breaks:
            self.stderr.write(str(broken))
        if breaks:
            raise CommandError(f"Audit trail check failed: {len(breaks)} break(s) found.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Audit trail intact: every history chain verified."))
