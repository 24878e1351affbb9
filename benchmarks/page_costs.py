"""What each page of the load benchmark costs the app server: CPU time and queries, in-process, one at a time.

    .venv/bin/python benchmarks/page_costs.py --existing postgres://postgres@127.0.0.1:5432/bench_load_...
    .venv/bin/python benchmarks/page_costs.py --existing URL --profile "organization page"

The database is one `benchmarks/load.py --keep` left (its officers, organizations and draft filings). As the first
officer of that run (Django's test client, DEBUG off, the same pages and saves as benchmarks/load_locust.py), each
page is requested once to warm up and then --repeat times; the median CPU time of this process per request and
the queries of the last one are printed, with the mix's weighted CPU per click (the tasks' weights of the locust
file, a save being its change page plus its POST). `--profile NAME` prints a pyinstrument profile of that page
(wall time, database waits included); with `--cpu`, a cProfile of this process's CPU time over --repeat requests,
which is what the app server's core pays.
Nothing is written to docs: the load benchmark's figures are the result; this says where the time goes.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load_forms import form_fields  # noqa: E402 (benchmarks are scripts; the path is set just above)
from seed_scale import production_like  # noqa: E402

OFFICER = "bench-load-officer-01"
# The locust file's task weights; a save task makes two requests (its change page, then the POST).
WEIGHTS = {
    "list": 2,
    "dashboard": 1,
    "organization page": 2,
    "audit trail": 2,
    "prepare filing": 1,
    "filing PDF": 1,
    "user count: save": 3,
    "license: save": 2,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", required=True, metavar="URL", help="a database `load.py --keep` left")
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page after the warm-up (default 5)")
    parser.add_argument("--officer", default=OFFICER, help=f"whose pages (default {OFFICER})")
    parser.add_argument("--profile", default="", metavar="NAME", help="print a pyinstrument profile of this page")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="with --profile: cProfile on this process's CPU time over --repeat requests (database waits left out)",
    )
    return parser.parse_args()


def pages(user) -> dict[str, str]:
    """The load benchmark's pages for this officer's first organization, by the names its report uses."""
    from licensing import access, standing
    from licensing.models import Filing, License, UserCount

    year = standing.current_license_year()
    organization = access.organizations(user, access.CHANGE).order_by("pk").first()
    if organization is None:
        raise SystemExit(f"{user.username} has no organization: give the URL of a `load.py --keep` database")
    count = UserCount.objects.filter(application__organization=organization).order_by("pk").first()
    license = License.objects.filter(application__organization=organization).order_by("pk").first()
    filing = Filing.objects.filter(organization=organization).order_by("-pk").first()
    base = "/admin/licensing"
    found = {
        "list: applications": f"{base}/application/?year={year}",
        "list: user counts": f"{base}/usercount/?license_year={year}",
        "list: licenses": f"{base}/license/?status__exact=active",
        "list: organizations": f"{base}/organization/?q=Benchmark",
        "dashboard": "/admin/",
        "organization page": f"{base}/organization/{organization.pk}/change/",
        "audit trail": f"{base}/organization/{organization.pk}/audit-trail/",
        "prepare filing": f"{base}/organization/{organization.pk}/prepare-filing/",
        "user count: change page": f"{base}/usercount/{count.pk}/change/",
        "license: change page": f"{base}/license/{license.pk}/change/",
    }
    if filing is not None:
        found["filing PDF"] = f"{base}/filing/{filing.pk}/pdf/"
    return found


def save(client, url: str, model: str, field: str, n: int):
    """Post the change page back with `field` changed and a reason, as the locust file does."""
    page = client.get(url)
    data = [(name, value) for name, value in form_fields(page.content.decode(), f"{model}_form") if name != field]
    data += [(field, f"page cost #{n} {time.time():.6f}"), ("change_reason", f"Page cost benchmark #{n}")]
    data += [("_continue", "1")]
    body = {}
    for name, value in data:
        body.setdefault(name, []).append(value)
    return client.post(url, body)


def measure(client, request, repeat: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    request()
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.process_time()
            response = request()
            times.append((time.process_time() - started) * 1000)
        if response.status_code not in (200, 302):
            raise SystemExit(f"{response.status_code} from {response.request['PATH_INFO']}")
    return statistics.median(times), len(captured)


def cpu_profile(request, repeat: int) -> int:
    """The functions this process spends its CPU on (own time and with callees), over `repeat` requests."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    for _ in range(repeat):
        profiler.enable()
        request()
        profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)
    return 0


def main() -> int:
    args = parse_args()
    production_like(args.existing, allowed_hosts="testserver")
    os.environ.setdefault("SECRET_KEY", "page-costs-benchmark")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.get(username=args.officer)
    client = Client()
    client.force_login(user)
    urls = pages(user)
    requests = {name: (lambda url=url: client.get(url)) for name, url in urls.items()}
    saves = iter(range(1, 10_000))
    requests["user count: save"] = lambda: save(
        client, urls["user count: change page"], "usercount", "evidence", next(saves)
    )
    requests["license: save"] = lambda: save(client, urls["license: change page"], "license", "notes", next(saves))
    if args.profile:
        from pyinstrument import Profiler

        if args.profile not in requests:
            raise SystemExit(f"no page {args.profile!r}; one of: {', '.join(requests)}")
        requests[args.profile]()
        if args.cpu:
            return cpu_profile(requests[args.profile], args.repeat)
        profiler = Profiler(interval=0.001)
        profiler.start()
        requests[args.profile]()
        profiler.stop()
        print(profiler.output_text(unicode=True, show_all=False))
        return 0
    costs = {}
    print(f"{'page':28} {'CPU ms':>7} {'queries':>8}")
    for name, request in requests.items():
        costs[name], queries = measure(client, request, args.repeat)
        print(f"{name:28} {costs[name]:7.1f} {queries:8d}")
    lists = [cost for name, cost in costs.items() if name.startswith("list: ")]
    weighted = {"list": statistics.mean(lists), **costs}
    clicks = sum(WEIGHTS[name] for name in WEIGHTS if name in weighted)
    # A save task's cost includes its change page: `save` above requests it before posting.
    per_click = sum(WEIGHTS[name] * weighted[name] for name in WEIGHTS if name in weighted) / clicks
    print(f"weighted CPU per task of the load mix: {per_click:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
