"""`make bench`: every benchmark on SQLite and, when a server answers, on PostgreSQL.

Figures go to docs/benchmarks.md (each benchmark rewrites its own table there). The load benchmark
(benchmarks/load.py, about 5 minutes, PostgreSQL only) is not in this list: it runs on its own, `make load`; nor are
the scale benchmark (`make scale`) and the rosters at scale (benchmarks/rosters.py, `make rosters`).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BENCHMARKS = [
    ["seed_scale.py", "--orgs", os.environ.get("BENCH_ORGS", "10000")],
    ["pdf_render.py"],
    ["audit_trail.py"],
    ["imports.py"],
    ["import_admin.py"],
    ["dashboard.py"],
]


def postgres_answers() -> bool:
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False).returncode == 0


def main() -> int:
    targets = [[]] + ([["--database-url", POSTGRES_URL]] if postgres_answers() else [])
    if len(targets) == 1:
        print("PostgreSQL does not answer on 127.0.0.1:5432: benchmarks run on SQLite only.")
    failed = 0
    for script, *args in BENCHMARKS:
        for target in targets:
            result = subprocess.run([sys.executable, str(ROOT / script), *args, *target], check=False)
            failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
