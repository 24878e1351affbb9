"""Export records as CSV, XLSX or JSON through their import resource, so the file imports back unchanged.

    manage.py export_data user-counts --organization riverbend-health --output counts.csv
    manage.py export_data licenses --actor dana --format json > licenses.json

The bytes are those of the admin's download (licensing.exports): same columns, same formula escaping.
With --actor, only what that person may view; without, everything (the system reads all). --organization
(a short name or an EIN, repeatable) narrows the file to those organizations and their affiliates.
CSV and JSON stream to stdout when no --output is given; an XLSX needs --output.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from licensing import access, exports, ownership
from licensing.management.commands.import_data import find_actor, find_resource, resource_names
from licensing.models import Organization


def organizations_named(names: list[str], actor) -> list[Organization]:
    """The organizations these short names or EINs name, among those `actor` may view (all, for no actor)."""
    candidates = Organization.objects.all() if actor is None else access.organizations(actor, access.VIEW)
    found = []
    for name in names:
        text = name.strip()
        digits = "".join(character for character in text if character.isdigit())
        match = Q(slug__iexact=text)
        if len(digits) == 9 and set(text) <= set("0123456789- "):
            match |= Q(ein=digits)
        organization = candidates.filter(match).first()
        if organization is None:
            whose = "" if actor is None else " that this person may view"
            raise CommandError(
                f"No organization{whose} has the short name or EIN '{text}'. The Organizations page shows both."
            )
        found.append(organization)
    return found


def within(queryset, organizations: list[Organization]):
    """Rows of these organizations and of their affiliates (two levels down, as memberships reach)."""
    declared = ownership.owned_by(queryset.model)
    ids = [organization.pk for organization in organizations]
    return queryset.filter(
        Q(**{f"{declared.lookup('pk')}__in": ids})
        | Q(**{f"{declared.lookup('parent')}__in": ids})
        | Q(**{f"{declared.lookup('parent__parent')}__in": ids})
    )


class Command(BaseCommand):
    help = (
        "Export records through their import resource (the admin's columns), as CSV, XLSX or JSON: everything, "
        "or what --actor may view, narrowed with --organization. "
        f"Resources: {resource_names()}."
    )

    def add_arguments(self, parser):
        parser.add_argument("resource", help=f"What to export: {resource_names()}.")
        parser.add_argument(
            "--format",
            choices=exports.FORMATS,
            help="csv (default), xlsx or json; the --output file's extension sets it when left out.",
        )
        parser.add_argument(
            "--organization",
            action="append",
            default=[],
            metavar="SLUG_OR_EIN",
            help="Only this organization and its affiliates; repeat for several.",
        )
        parser.add_argument(
            "--actor", metavar="USERNAME", help="Export only what this person may view (default: everything)."
        )
        parser.add_argument("--output", metavar="FILE", help="Write to FILE (default: stdout, for CSV and JSON).")

    def handle(self, *args, resource, format=None, organization=(), actor=None, output=None, **options):
        resource_class = find_resource(resource)
        person = find_actor(actor) if actor else None
        file_format = format or self._format_of(output)
        if file_format == "xlsx" and not output:
            raise CommandError("An XLSX workbook cannot go to stdout; name a file with --output.")
        model = resource_class._meta.model
        if organization and ownership.owned_by(model) is None:
            raise CommandError(f"{resource_class.title} are shared by every organization; leave out --organization.")
        queryset = model._default_manager.all()
        if person is not None:
            queryset = access.restrict(queryset, person, access.VIEW)
        if organization:
            queryset = within(queryset, organizations_named(list(organization), person))
        exporter = resource_class(actor=person)
        stem = Path(output).stem if output else resource
        download = exports.response(exporter, queryset, file_format=file_format, file_stem=stem)
        chunks = download.streaming_content if download.streaming else [download.content]
        rows = queryset.count()
        if output:
            try:
                with Path(output).open("wb") as stream:
                    for chunk in chunks:
                        stream.write(chunk)
            except OSError as problem:
                raise CommandError(f"Could not write {output}: {problem.strerror or problem}.") from None
        else:
            for chunk in chunks:
                self.stdout.write(chunk.decode("utf-8"), ending="")
            self.stdout.flush()
        if options.get("verbosity", 1) >= 1:
            where = output or "stdout"
            self.stderr.write(
                f"Exported {rows:,} {resource_class.title.lower()} to {where} ({file_format.upper()}).",
                style_func=_plain,
            )

    def _format_of(self, output) -> str:
        if not output:
            return "csv"
        extension = Path(output).suffix.lower().lstrip(".")
        if extension in exports.FORMATS:
            return extension
        raise CommandError(
            f"Cannot tell the format from '{output}'; give --format csv, xlsx or json, or end the name with one."
        )


def _plain(text: str) -> str:
    return text
