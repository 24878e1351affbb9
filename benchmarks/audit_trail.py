"""Time the organization audit trail on a big history and record the figures in docs/benchmarks.md.

    .venv/bin/python benchmarks/audit_trail.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/audit_trail.py                                  # SQLite (slower to build)
    .venv/bin/python benchmarks/audit_trail.py --total 200000 --org-rows 20000 --no-docs   # a quick look

Builds a fresh database (a temporary SQLite file, or a PostgreSQL database created beside the one in
the URL and dropped afterwards): `seed_demo --scale N` for realistic organizations, applications,
counts and licenses, then more versions of their records, written as stamped history rows (valid hash
chains, the way licensing.audit writes them) until the history holds --total rows, --org-rows of
them for one organization. Then VACUUM ANALYZE, and the trail's first page is rendered through
Django's test client, as a superuser and as an officer of that organization, --repeat times each.
"""

import argparse
import datetime
import itertools
import os
import statistics
import sys
import time
import tracemalloc
import typing
from decimal import Decimal
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from seed_scale import PostgresTarget, SQLiteTarget, analyze, database_label  # noqa: E402 (benchmarks are scripts; the path is set just above)

DOCS = ROOT / "docs" / "benchmarks.md"
START_MARKER = "<!-- audit-trail-results:start -->"
END_MARKER = "<!-- audit-trail-results:end -->"
TABLE_HEADER = (
    "| Date | Database | Load (1 min) | History rows | Rows of the organization "
    "| First page, superuser: median / p95 (ms) | First page, officer: median / p95 (ms) | Queries "
    "| Filtered pages: median (ms) | CSV, 10,000 changes (s) | CSV peak Python memory (MB) |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
)
# The requirement for the first page, PostgreSQL, median.
BUDGET_MS = 500
UTC = datetime.UTC
# The seed is dated here so that every later version is newer, as in a real history (the demo places its
# years and dates relative to this moment: license years 2025 and 2026 for a scale run).
SEED_MOMENT = datetime.datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
HISTORY_START = datetime.datetime(2026, 1, 3, 8, 0, tzinfo=UTC)
ROUNDS = 40
BATCH = 5000
PEOPLE = 12
TARGET_APPLICATIONS = 30


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default="", help="postgres://... to run on PostgreSQL; empty for a temporary SQLite file"
    )
    parser.add_argument("--total", type=int, default=1_000_000, help="history rows in the database (default 1,000,000)")
    parser.add_argument(
        "--org-rows", type=int, default=100_000, help="history rows of the measured organization (default 100,000)"
    )
    parser.add_argument(
        "--orgs", type=int, default=10_000, help="organizations seed_demo --scale creates (default 10,000)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="renders timed per person (default 20)")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the first page's slowest queries"
    )
    parser.add_argument("--verify", action="store_true", help="check the organization's hash chains after building")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards and print its URL")
    parser.add_argument(
        "--existing", default="", metavar="URL", help="measure a database a --keep run left (no build, no drop)"
    )
    parser.add_argument("--no-docs", action="store_true", help="print the result only; leave docs/benchmarks.md alone")
    return parser.parse_args()


class AuditPostgresTarget(PostgresTarget):
    def __init__(self, server_url: str):
        super().__init__(server_url)
        self.name = self.name.replace("bench_seed_", "bench_audit_")
        self.url = self.url.rsplit("/", 1)[0] + f"/{self.name}"


# ---------------------------------------------------------------------------------------------
# Building the history
# ---------------------------------------------------------------------------------------------


def frozen_clock(moment):
    """Every timezone.now() (simple-history, licensing.audit) returns `moment` inside this block."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def history_rows() -> int:
    from licensing.audit import trail as audit_trail

    return sum(t.history_model.objects.count() for t in audit_trail.record_types()) + sum(
        model.history.model.objects.count() for model in reference_models()
    )


def reference_models():
    from licensing.models import DataFile, ProxyFactor, RateSchedule, Vendor

    return [DataFile, ProxyFactor, RateSchedule, Vendor]


def organization_rows(organization_id: int) -> int:
    from licensing.audit import trail as audit_trail

    return sum(
        t.history_model.objects.filter(organization_id=organization_id).count() for t in audit_trail.record_types()
    )


def people_and_target(orgs: int):
    """Seed the base data; give the first benchmark organization 30 systems, contacts, filings and members."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from licensing import demo, services
    from licensing.models import Application, Contact, DataFile, Filing, License, Organization, UserCount, Vendor

    with frozen_clock(SEED_MOMENT):
        with open(os.devnull, "w") as quiet:
            call_command("seed_demo", scale=orgs, verbosity=0, stdout=quiet)
        User = get_user_model()
        admin = User.objects.get(username=demo.ADMIN_LOGIN.username)
        officer = User.objects.create_user("bench-officer", is_staff=True)
        people = [User.objects.create_user(f"bench-person-{n:02d}", is_staff=True) for n in range(1, PEOPLE + 1)]
        target = Organization.objects.get(slug=demo._scale_slug(1))
        services.membership_grant(user=officer, organization=target, role="officer", actor=admin, reason="Benchmark")
        for person in people[:6]:
            services.membership_grant(user=person, organization=target, role="auditor", actor=admin, reason="Benchmark")

        years = demo.scale_years()  # the license years of the scale run, under the frozen clock
        vendors = list(Vendor.objects.order_by("pk")[:4])
        categories = [choice for choice, _ in Application.Category.choices]
        existing = target.applications.count()
        apps = [
            Application(
                organization=target,
                name=f"Clinical system {n:02d}",
                category=categories[n % len(categories)],
                vendor=vendors[n % len(vendors)],
                product_version="2026.1",
                in_service_from=datetime.date(2020, 1, 1),
            )
            for n in range(TARGET_APPLICATIONS - existing)
        ]
        standard = DataFile.objects.get(code=demo.STD).pk
        services.record_bulk_create(
            apps, Application, actor=admin, reason="Benchmark", m2m={"data_files": [[standard] for _ in apps]}
        )
        services.record_bulk_create(
            [UserCount(application=app, license_year=year, direct_users=10) for app in apps for year in years],
            UserCount,
            actor=admin,
            reason="Benchmark",
        )
        services.record_bulk_create(
            [License(application=app, license_year=year, status="needed") for app in apps for year in years],
            License,
            actor=admin,
            reason="Benchmark",
        )
        services.record_bulk_create(
            [
                Contact(organization=target, role=role, name=f"Benchmark {role} contact", title="Manager")
                for role in ["primary", "billing", "legal"]
            ],
            Contact,
            actor=admin,
            reason="Benchmark",
        )
        included = list(target.applications.values_list("pk", flat=True)[:5])
        services.record_bulk_create(
            [Filing(organization=target, license_year=year) for year in years],
            Filing,
            actor=admin,
            reason="Benchmark",
            m2m={"applications": [included, included]},
        )
    return admin, officer, people, target


def existing_people_and_target():
    from django.contrib.auth import get_user_model

    from licensing import demo
    from licensing.models import Organization

    User = get_user_model()
    people = list(User.objects.filter(username__startswith="bench-person-").order_by("username"))
    return (
        User.objects.get(username=demo.ADMIN_LOGIN.username),
        User.objects.get(username="bench-officer"),
        people,
        Organization.objects.get(slug=demo._scale_slug(1)),
    )


# How each record type changes from one version to the next; `v` counts the object's versions.
def _mutate_organization(obj, v):
    obj.phone = f"(555) 01{v % 100:02d}"
    if v % 3 == 0:
        obj.notes = f"Annual review {v}"


def _mutate_contact(obj, v):
    obj.title = f"Manager, grade {v % 9 + 1}"
    if v % 4 == 0:
        obj.phone = f"(555) 02{v % 100:02d}"


def _mutate_basemetrics(obj, v):
    obj.physicians = 20 + v % 7
    obj.employees = 120 + v % 11


def _mutate_membership(obj, v):
    obj.role = "officer" if v % 2 else "auditor"


def _mutate_application(obj, v, vendors=()):
    obj.product_version = f"2026.{v}"
    if v % 5 == 0:
        obj.owner = f"Team {v % 4}"
    if v % 7 == 0 and vendors:
        obj.vendor_id = vendors[v % len(vendors)]


def _mutate_usercount(obj, v):
    if obj.method == "proxy":
        obj.metric_value = Decimal(10 + v % 20)
    else:
        obj.direct_users = 5 + v % 40
    if v % 3 == 0:
        obj.evidence = f"Roster export {v}"


LICENSE_STATUSES = ["drafted", "submitted", "active", "expired"]


def _mutate_license(obj, v):
    obj.licensed_users = 10 + v % 50
    if v % 4 == 0:
        obj.status = LICENSE_STATUSES[(v // 4) % len(LICENSE_STATUSES)]
        obj.agreement_number = (
            f"AMA-IU-{obj.license_year}-{obj.pk:08d}" if obj.status == "active" else obj.agreement_number
        )
    if v % 6 == 0:
        obj.notes = f"Reviewed in round {v}"


def _mutate_filing(obj, v):
    obj.signatory_title = f"Chief Compliance Officer ({v})"


class Versions:
    """Writes new stamped versions of a set of objects of one model, chained to each one's last history row.

    History ids are given before the insert, so one INSERT can carry an object's row and the rows that
    follow it in other passes; the next id per historical table is shared by every Versions of that table.
    """

    next_ids: typing.ClassVar[dict] = {}

    def __init__(self, model, objects, organization_ids: dict, mutate):
        from django.db.models import Max

        from licensing.audit import links, stamping

        self.model = model
        self.history_model = model.history.model
        self.objects = list(objects)
        self.organization_ids = organization_ids
        self.mutate = mutate
        self.fields = [f.attname for f in self.history_model.tracked_fields]
        pk_name = model._meta.pk.attname
        ids = [obj.pk for obj in self.objects]
        self.latest = {}
        for start in range(0, len(ids), 10_000):
            rows = self.history_model.objects.filter(**{f"{pk_name}__in": ids[start : start + 10_000]}).order_by(
                pk_name, "-history_id"
            )
            for row in rows:
                self.latest.setdefault(getattr(row, pk_name), row)
        self.m2m_fields = list(getattr(self.history_model, "_history_m2m_fields", []))
        self.links = {obj.pk: {} for obj in self.objects}
        for field in self.m2m_fields:
            through = field.remote_field.through
            source = field.m2m_field_name()
            for link in through.objects.filter(**{f"{source}_id__in": ids}):
                self.links[getattr(link, f"{source}_id")].setdefault(field.name, []).append(link)
        self.versions = {obj.pk: 0 for obj in self.objects}
        if self.history_model not in Versions.next_ids:
            Versions.next_ids[self.history_model] = (
                self.history_model.objects.aggregate(top=Max("history_id"))["top"] or 0
            ) + 1
        self.stamp = stamping.stamp
        self.m2m_history_model_of = links.m2m_history_model_of

    def _link_ids(self, pk) -> dict:
        result = {}
        for field in self.m2m_fields:
            target = field.m2m_reverse_field_name()
            result[field.name] = [getattr(link, f"{target}_id") for link in self.links[pk].get(field.name, [])]
        return result

    def write(self, objects, clock, people, reason: str) -> int:
        """One new version of each of `objects`, dated by `clock`, by people in turn; returns rows written."""
        rows, m2m_rows = [], []
        for obj in objects:
            self.versions[obj.pk] += 1
            v = self.versions[obj.pk]
            self.mutate(obj, v)
            row = self.history_model(
                history_id=Versions.next_ids[self.history_model],
                history_date=next(clock),
                history_user=people[(obj.pk + v) % len(people)],
                history_change_reason=f"{reason} {v}",
                history_type="~",
                **{name: getattr(obj, name) for name in self.fields},
            )
            Versions.next_ids[self.history_model] += 1
            links = self._link_ids(obj.pk)
            self.stamp(
                row,
                instance=obj,
                previous=self.latest.get(obj.pk),
                previous_m2m=links,
                m2m_ids=links,
                organization_id=self.organization_ids[obj.pk],
            )
            self.latest[obj.pk] = row
            rows.append(row)
            for field in self.m2m_fields:
                m2m_history = self.m2m_history_model_of(self.history_model, field)
                names = [f.attname for f in field.remote_field.through._meta.concrete_fields]
                m2m_rows += [
                    (m2m_history, m2m_history(history=row, **{n: getattr(link, n) for n in names}))
                    for link in self.links[obj.pk].get(field.name, [])
                ]
        insert(self.history_model, rows)
        for m2m_history, group in itertools.groupby(m2m_rows, key=lambda pair: pair[0]):
            m2m_history.objects.bulk_create([copy for _, copy in group], batch_size=BATCH)
        return len(rows)

    def finish(self):
        """Point each record's chain head at its newest row; move the id sequence."""
        from licensing.audit import stamping

        rows = list(self.latest.values())
        for start in range(0, len(rows), BATCH):
            stamping.move_heads(rows[start : start + BATCH])
        self.reset_sequence()

    def reset_sequence(self):
        from django.core.management.color import no_style
        from django.db import connection

        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [self.history_model]):
                cursor.execute(statement)


def insert(model, rows) -> None:
    """INSERT `rows` (ids given): COPY on PostgreSQL, about ten times faster than bulk_create for wide rows."""
    from django.db import connection, models

    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows, batch_size=BATCH)
        return
    from psycopg.types.json import Jsonb

    fields = model._meta.concrete_fields
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = [getattr(row, f.attname) for f in fields]
            if json_fields:
                values = [
                    Jsonb(v) if f.attname in json_fields and v is not None else v
                    for f, v in zip(fields, values, strict=True)
                ]
            copy.write_row(values)


def clock_from(start: datetime.datetime):
    """Distinct moments a millisecond apart, so rows of one round keep a clear order."""
    step = datetime.timedelta(milliseconds=1)
    return (start + step * n for n in itertools.count())


def build_history(total: int, org_rows: int, people, target) -> None:
    """Add versions until the database holds `total` history rows, `org_rows` of them the target organization's."""
    from django.db import transaction

    from licensing.models import (
        Application,
        BaseMetrics,
        Contact,
        Filing,
        License,
        Membership,
        Organization,
        UserCount,
        Vendor,
    )

    vendor_ids = list(Vendor.objects.order_by("pk").values_list("pk", flat=True)[:3])
    mutations = {
        Organization: _mutate_organization,
        Contact: _mutate_contact,
        BaseMetrics: _mutate_basemetrics,
        Membership: _mutate_membership,
        Application: lambda obj, v: _mutate_application(obj, v, vendor_ids),
        UserCount: _mutate_usercount,
        License: _mutate_license,
        Filing: _mutate_filing,
    }
    owned_by_target = {
        Organization: Organization.objects.filter(pk=target.pk),
        Contact: Contact.objects.filter(organization=target),
        BaseMetrics: BaseMetrics.objects.filter(organization=target),
        Membership: Membership.objects.filter(organization=target),
        Application: Application.objects.filter(organization=target),
        UserCount: UserCount.objects.filter(application__organization=target),
        License: License.objects.filter(application__organization=target),
        Filing: Filing.objects.filter(organization=target),
    }
    target_sets = {
        model: Versions(model, queryset.order_by("pk"), {}, mutations[model])
        for model, queryset in owned_by_target.items()
    }
    for versions in target_sets.values():
        versions.organization_ids = {obj.pk: target.pk for obj in versions.objects}

    # Everyone else's counts, licenses and base metrics get new versions too, spread over the same years.
    other_sets = []
    for model, path in [
        (License, "application__organization_id"),
        (UserCount, "application__organization_id"),
        (BaseMetrics, "organization_id"),
    ]:
        queryset = model.objects.exclude(**{path: target.pk}).order_by("pk")
        owners = dict(queryset.values_list("pk", path))
        other_sets.append(Versions(model, queryset, owners, mutations[model]))

    have_total, have_target = history_rows(), organization_rows(target.pk)
    target_versions = max(0, org_rows - have_target)
    other_versions = max(0, total - have_total - target_versions)
    others = [(versions, obj) for versions in other_sets for obj in versions.objects]
    span = datetime.datetime.now(UTC) - datetime.timedelta(days=1) - HISTORY_START
    written_target = written_other = 0
    other_cursor = 0
    for round_number in range(ROUNDS):
        clock = clock_from(HISTORY_START + span * round_number / ROUNDS)
        with transaction.atomic():
            # The target organization: the same number of versions per object each round, one version per pass.
            due = round((round_number + 1) * target_versions / ROUNDS) - written_target
            while due > 0:
                for versions in target_sets.values():
                    batch = versions.objects[: min(len(versions.objects), due)]
                    if batch:
                        written = versions.write(batch, clock, people, "Benchmark change")
                        written_target += written
                        due -= written
                    if due <= 0:
                        break
            # Everyone else: the next slice of objects, one version each, interleaved in time with the target's.
            due = round((round_number + 1) * other_versions / ROUNDS) - written_other
            while due > 0:
                take = min(due, BATCH * 4)
                chunk = [others[(other_cursor + n) % len(others)] for n in range(take)]
                other_cursor += take
                for versions, group in itertools.groupby(chunk, key=lambda pair: pair[0]):
                    # One version per object per write: a repeat of an object waits for the next pass.
                    objs = list({obj.pk: obj for _, obj in group}.values())
                    written_other += versions.write(objs, clock, people, "Benchmark change")
                due = round((round_number + 1) * other_versions / ROUNDS) - written_other
        print(
            f"  round {round_number + 1}/{ROUNDS}: {written_target:,} target rows, {written_other:,} other rows",
            flush=True,
        )
    for versions in list(target_sets.values()) + other_sets:
        versions.finish()
    # The target's live records take their newest versions, so "Verify history" finds its chains intact
    # (everyone else's live records keep their seeded values: only their history size matters here).
    with transaction.atomic():
        for model, versions in target_sets.items():
            names = [f.name for f in model._meta.concrete_fields if not f.primary_key]
            model.objects.bulk_update(versions.objects, names, batch_size=500)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def timed_renders(client, url: str, repeat: int) -> list[float]:
    client.get(url)  # warm caches, as a second visit would find them
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or (response.context and response.context.get("problems")):
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def query_count(client, url: str) -> tuple[int, list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured), captured.captured_queries


def csv_export(client, url: str, lines: int) -> float:
    """Seconds to receive the header and the first `lines` lines of the CSV stream (all of it, if shorter)."""
    started = time.perf_counter()
    response = client.get(url)
    seen = 0
    for chunk in response.streaming_content:
        seen += chunk.count(b"\n")
        if seen > lines:
            break
    response.close()
    if seen <= lines:
        print(f"  (the export had only {seen - 1:,} lines, fewer than {lines:,})")
    return time.perf_counter() - started


def explain(queries: list[dict]) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    slow = []
    with connection.cursor() as cursor:
        for query in queries:
            if "historical" not in query["sql"] or query["sql"].startswith(("SAVEPOINT", "RELEASE")):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join(line for (line,) in cursor.fetchall())
            took = float(plan.rsplit("Execution Time: ", 1)[1].split(" ")[0])
            slow.append((took, query["sql"], plan))
    for took, sql, plan in sorted(slow, reverse=True)[:4]:
        print(f"\n--- {took:.1f} ms: {sql[:300]}...\n{plan}")


def measure(target, officer, admin, people, repeat: int, show_plans: bool) -> dict:
    from django.test import Client

    base = f"/admin/licensing/organization/{target.pk}/audit-trail/"
    superuser_client, officer_client = Client(), Client()
    superuser_client.force_login(admin)
    officer_client.force_login(officer)
    # The benchmark machine is shared: the load beside the measurement explains outliers.
    load = os.getloadavg()[0]
    superuser_times = timed_renders(superuser_client, base, repeat)
    officer_times = timed_renders(officer_client, base, repeat)
    queries, captured = query_count(officer_client, base)
    if show_plans:
        explain(captured)
    filtered = {
        "person": f"{base}?person={people[0].username}",
        "field": f"{base}?field=license.status",
        "type": f"{base}?type=contact",
        "month": f"{base}?since=2026-03-01&until=2026-03-31",
        "page 50": f"{base}?p=50",
    }
    filtered_ms = {
        name: statistics.median(timed_renders(officer_client, url, max(3, repeat // 4)))
        for name, url in filtered.items()
    }
    csv_url = f"{base}?format=csv"
    csv_seconds = statistics.median([csv_export(officer_client, csv_url, 10_000) for _ in range(3)])
    tracemalloc.start()
    csv_export(officer_client, csv_url, 10_000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "load": load,
        "superuser_median": statistics.median(superuser_times),
        "superuser_p95": p95(superuser_times),
        "officer_median": statistics.median(officer_times),
        "officer_p95": p95(officer_times),
        "queries": queries,
        "filtered": filtered_ms,
        "csv_seconds": csv_seconds,
        "csv_peak_mb": peak / 2**20,
    }


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------


def table_row(result: dict) -> str:
    filtered = ", ".join(f"{name} {ms:.0f}" for name, ms in result["filtered"].items())
    return (
        f"| {result['date']} | {result['database']} | {result['load']:.1f} | {result['history_rows']:,} "
        f"| {result['organization_rows']:,} | {result['superuser_median']:.0f} / {result['superuser_p95']:.0f} "
        f"| {result['officer_median']:.0f} / {result['officer_p95']:.0f} "
        f"| {result['queries']} | {filtered} | {result['csv_seconds']:.2f} | {result['csv_peak_mb']:.1f} |"
    )


def update_docs(result: dict) -> None:
    """Rewrite the table between this benchmark's markers: one row per database and size, newest run wins."""
    text = DOCS.read_text()
    if START_MARKER not in text:
        raise SystemExit(f"{DOCS} has no {START_MARKER} marker; restore the audit trail section first.")
    head, rest = text.split(START_MARKER, 1)
    body, tail = rest.split(END_MARKER, 1)
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| Date")]

    def key_of(row):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        return (cells[1], cells[3], cells[4])

    key = (result["database"], f"{result['history_rows']:,}", f"{result['organization_rows']:,}")
    rows = [row for row in rows if key_of(row) != key]
    rows.append(table_row(result))
    rows.sort(key=key_of)
    DOCS.write_text(f"{head}{START_MARKER}\n{TABLE_HEADER}\n" + "\n".join(rows) + f"\n{END_MARKER}{tail}")


def main():
    args = parse_args()
    if args.org_rows >= args.total:
        raise SystemExit("--org-rows must be below --total")
    url = args.database_url
    target_db = AuditPostgresTarget(url) if url else SQLiteTarget()
    if args.existing:
        target_db.url, args.keep = args.existing, True
    else:
        target_db.create()
    started = time.perf_counter()
    try:
        os.environ.update(
            {
                "DATABASE_URL": target_db.url,
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                # Production-like: no query log kept in memory, no debug pages.
                "DEBUG": "False",
                "SECRET_KEY": os.environ.get(
                    "SECRET_KEY", "benchmark-only-secret-key-not-for-production-use-0123456789"
                ),
            }
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        database = database_label()
        if args.existing:
            admin, officer, people, target = existing_people_and_target()
        else:
            print(
                f"Building {args.total:,} history rows ({args.org_rows:,} for one organization) on {database}...",
                flush=True,
            )
            admin, officer, people, target = people_and_target(args.orgs)
            seeded = time.perf_counter()
            print(f"  seed_demo --scale {args.orgs}: {seeded - started:.0f} s", flush=True)
            build_history(args.total, args.org_rows, [admin, officer, *people], target)
            analyze()
        built = time.perf_counter()
        if args.verify:
            from licensing.audit import verification

            breaks = verification.verify(organization_id=target.pk)
            print(
                f"  verify: {len(breaks)} break(s) in the organization's history"
                + "".join(f"\n    {b}" for b in breaks[:5])
            )
        total, organization = history_rows(), organization_rows(target.pk)
        print(
            f"  built in {built - started:.0f} s: {total:,} history rows, {organization:,} of {target.name}", flush=True
        )
        result = measure(target, officer, admin, people, args.repeat, args.explain)
        connections.close_all()
    finally:
        if args.keep:
            print(f"Kept the database: {target_db.url}")
        else:
            target_db.drop()

    result.update(
        date=datetime.datetime.now(datetime.UTC).date().isoformat(),
        database=database,
        history_rows=total,
        organization_rows=organization,
    )
    verdict = "within" if result["superuser_median"] < BUDGET_MS and result["officer_median"] < BUDGET_MS else "OVER"
    print(
        f"Load {result['load']:.1f}. Audit trail first page on {database} with {total:,} history rows "
        f"({organization:,} for the organization): "
        f"superuser median {result['superuser_median']:.0f} ms (p95 {result['superuser_p95']:.0f}), "
        f"officer median {result['officer_median']:.0f} ms (p95 {result['officer_p95']:.0f}), "
        f"{verdict} the {BUDGET_MS} ms budget; {result['queries']} queries. "
        f"Filtered pages (median ms): {', '.join(f'{k} {v:.0f}' for k, v in result['filtered'].items())}. "
        f"CSV of 10,000 changes: {result['csv_seconds']:.2f} s, peak Python memory {result['csv_peak_mb']:.1f} MB. "
        f"Total run {time.perf_counter() - started:.0f} s."
    )
    if not args.no_docs:
        update_docs(result)
        print(f"Recorded in {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
