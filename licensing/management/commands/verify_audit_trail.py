"""Walk every history chain and report tampering; exit status 1 when anything is broken.

`--save-heads FILE` also writes each record's newest history row and hash as CSV, to keep somewhere the
database's users cannot write; `--check-heads FILE` later proves every row listed there is unchanged.
Every run prints one digest of all chains as they stood at a moment (`--as-of`, by default a few minutes
ago); `--expect DIGEST` or `--expect-file FILE` compares it with a digest kept outside the database
(docs/audit.md).
"""

import csv
import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from licensing import identifiers
from licensing.audit import verification
from licensing.models import Organization

# The default digest moment lies this far back, so that changes still being saved when it runs are whole.
DIGEST_SETTLE = datetime.timedelta(minutes=15)


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
        parser.add_argument(
            "--as-of",
            metavar="MOMENT",
            help="Digest the chains as they stood at MOMENT (ISO 8601 with a time zone, "
            f"e.g. 2026-12-01T06:00:00+00:00); default: {int(DIGEST_SETTLE.total_seconds() // 60)} minutes ago.",
        )
        parser.add_argument("--expect", metavar="DIGEST", help="Fail unless the digest at --as-of is DIGEST.")
        parser.add_argument(
            "--expect-file",
            metavar="FILE",
            help="Fail unless the digest matches the line kept in FILE (written by --save-digest; its moment is used).",
        )
        parser.add_argument("--save-digest", metavar="FILE", help="Also write the digest line to FILE.")

    def handle(self, *args, organization=None, save_heads=None, check_heads=None, **options):
        expected = self._expected(options.get("as_of"), options.get("expect"), options.get("expect_file"))
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
        digest = verification.chains_digest(expected.as_of)
        self.stdout.write(
            f"Chain digest at {digest.as_of.isoformat()}: {digest.chains} chain(s), SHA-256 {digest.value}\n"
            f"Keep this line outside the database: {digest.line()}"
        )
        if options.get("save_digest"):
            Path(options["save_digest"]).write_text(digest.line() + "\n")
            self.stdout.write(f"Digest line written to {options['save_digest']}.")
        if expected.value and expected.value != digest.value:
            raise CommandError(
                f"Chain digest mismatch at {digest.as_of.isoformat()}: "
                f"expected {expected.value}, found {digest.value}. "
                "History dated up to that moment was rewritten, removed or added since the digest was kept "
                "(or the digest belongs to another database or moment).",
                returncode=1,
            )
        if expected.value:
            self.stdout.write(self.style.SUCCESS("Chain digest matches the one kept outside the database."))

    def _expected(self, as_of, value, name) -> verification.Digest:
        """The moment to digest and the digest expected there (empty: none), from the options."""
        if value and name:
            raise CommandError("Give --expect or --expect-file, not both.")
        if name:
            path = Path(name)
            kept = verification.parse_digest_line(path.read_text()) if path.is_file() else None
            if kept is None:
                raise CommandError(
                    f"{name} holds no digest line: give the file --save-digest wrote (moment, chains, digest)."
                )
            if as_of:
                raise CommandError("--expect-file carries its own moment; leave out --as-of.")
            return kept
        moment = self._moment(as_of) if as_of else timezone.now().replace(microsecond=0) - DIGEST_SETTLE
        if value:
            if not as_of:
                raise CommandError("Give --as-of with --expect: the moment printed with the digest you kept.")
            value = value.strip().lower()
            if not verification.DIGEST_PATTERN.fullmatch(value):
                raise CommandError(f"'{value}' is not a digest: it is 64 hexadecimal characters (0-9, a-f).")
        return verification.Digest(as_of=moment, chains=0, value=value or "")

    def _moment(self, text: str) -> datetime.datetime:
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(
                f"'{text}' is not a moment: write it as ISO 8601, e.g. 2026-12-01T06:00:00+00:00."
            ) from None
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)

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
            n
            for n, row in enumerate(body, start=2)
            if len(row) != 4 or None in (identifiers.record_id(row[1]), identifiers.record_id(row[2]))
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
