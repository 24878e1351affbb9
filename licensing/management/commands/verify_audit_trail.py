"""Walk every history chain and report tampering; exit status 1 when anything is broken.

`--save-heads FILE` also writes each record's newest history row and hash as CSV, to keep somewhere the
database's users cannot write; `--check-heads FILE` later proves every row listed there is unchanged.
"""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from licensing.audit import verification
from licensing.models import Organization


class Command(BaseCommand):
    help = "Check that no history row was edited, deleted or bypassed; reports each break and exits 1 if any."

    def add_arguments(self, parser):
        parser.add_argument("--organization", metavar="SLUG", help="Check only this organization's records.")
        parser.add_argument(
            "--save-heads", metavar="FILE", help="Also write every record's newest history hash to FILE (CSV)."
        )
        parser.add_argument(
            "--check-heads", metavar="FILE", help="Also check that the rows listed in FILE still have those hashes."
        )

    def handle(self, *args, organization=None, save_heads=None, check_heads=None, **options):
        organization_id = None
        if organization:
            organization_id = Organization.objects.filter(slug=organization).values_list("pk", flat=True).first()
            if organization_id is None:
                raise CommandError(f"No organization with slug '{organization}'. Check the slug in the admin.")
        saved = self._read_heads(check_heads) if check_heads else []
        breaks = verification.verify(organization_id=organization_id)
        breaks += verification.check_saved_heads(saved)
        for broken in breaks:
            self.stderr.write(str(broken))
        if breaks:
            raise CommandError(f"Audit trail check failed: {len(breaks)} break(s) found.", returncode=1)
        if check_heads:
            self.stdout.write(f"{len(saved)} saved hash(es) from {check_heads} still match.")
        if save_heads:
            written = self._write_heads(save_heads, organization_id)
            self.stdout.write(f"Newest hashes of {written} record(s) written to {save_heads}.")
        self.stdout.write(self.style.SUCCESS("Audit trail intact: every history chain verified."))

    def _read_heads(self, name: str) -> list[list[str]]:
        path = Path(name)
        if not path.is_file():
            raise CommandError(f"No file {name}: give the CSV that --save-heads wrote.")
        with path.open(newline="") as stream:
            rows = list(csv.reader(stream))
        if not rows or rows[0] != verification.HEADS_HEADER:
            raise CommandError(
                f"{name} is not a file of saved hashes: its first line must be {','.join(verification.HEADS_HEADER)}."
            )
        body = rows[1:]
        malformed = [
            n for n, row in enumerate(body, start=2) if len(row) != 4 or not row[1].isdigit() or not row[2].isdigit()
        ]
        if malformed:
            raise CommandError(f"{name} line {malformed[0]} is not record_type,object_id,history_id,row_hash.")
        return body

    def _write_heads(self, name: str, organization_id) -> int:
        written = 0
        with Path(name).open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(verification.HEADS_HEADER)
            for line in verification.chain_heads(organization_id=organization_id):
                writer.writerow(line)
                written += 1
        return written
