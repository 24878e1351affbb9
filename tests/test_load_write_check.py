"""The load benchmark's write check (benchmarks/load.py) tells a lost write from a correct outcome.

Two officers open the same user count; the first saves its evidence, the second then saves the counted-by
field from the form it opened before. Either the portal refuses the second save (record versions), and the
check finds nothing wrong, or it takes it and thereby puts the old evidence back, and the check must report
the first officer's write as lost. The saves are posted the way the load tool posts them: every field the
page rendered, parsed from its HTML.
"""

import sys
import time
from pathlib import Path

import pytest

from tests.factories import UserCountFactory, UserFactory, member

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from load import check_writes  # noqa: E402 (benchmarks/ is not a package)
from load_forms import form_fields  # noqa: E402

pytestmark = pytest.mark.django_db


def _open(client, url):
    page = client.get(url)
    assert page.status_code == 200
    return form_fields(page.content.decode(), "usercount_form")


def _save(client, url, fields, *, model_pk, field, value, reason):
    """Post `fields` with `field` set to `value` and a reason; the write as the load tool records it."""
    data: dict[str, list[str]] = {}
    for name, current in fields:
        if name != field:
            data.setdefault(name, []).append(current)
    data |= {field: [value], "change_reason": [reason], "_continue": ["1"]}
    started = time.time()
    answer = client.post(url, data)
    outcome = "saved" if answer.status_code == 302 else "refused" if answer.status_code == 200 else "error"
    return {
        "model": "usercount",
        "pk": model_pk,
        "field": field,
        "value": value,
        "reason": reason,
        "started": started,
        "finished": time.time(),
        "outcome": outcome,
        "detail": "",
    }


@pytest.fixture
def two_officers(client):
    count = UserCountFactory(evidence="Roster of January", counted_by="Dana")
    first, second = UserFactory(), UserFactory()
    for person in (first, second):
        member(person, count.application.organization)
    clients = []
    for person in (first, second):
        other = type(client)()
        other.force_login(person)
        clients.append(other)
    return count, clients


def test_sequential_saves_of_one_record_pass_the_check(two_officers):
    count, (first, second) = two_officers
    url = f"/admin/licensing/usercount/{count.pk}/change/"
    since = time.time()
    writes = [
        _save(first, url, _open(first, url), model_pk=count.pk, field="evidence", value="Roster A", reason="load 1"),
        _save(second, url, _open(second, url), model_pk=count.pk, field="counted_by", value="Sam", reason="load 2"),
    ]
    assert [write["outcome"] for write in writes] == ["saved", "saved"]
    assert check_writes(writes, since=since)["problems"] == []


def test_a_save_from_a_stale_form_is_refused_or_reported_as_a_lost_write(two_officers):
    count, (first, second) = two_officers
    url = f"/admin/licensing/usercount/{count.pk}/change/"
    since = time.time()
    stale = _open(second, url)
    writes = [_save(first, url, _open(first, url), model_pk=count.pk, field="evidence", value="Roster A", reason="l1")]
    writes.append(_save(second, url, stale, model_pk=count.pk, field="counted_by", value="Sam", reason="l2"))
    problems = check_writes(writes, since=since)["problems"]
    if writes[1]["outcome"] == "saved":
        # The second save carried the evidence it was opened with: the first officer's write is gone.
        count.refresh_from_db()
        assert count.evidence == "Roster of January"
        assert any("lost write" in problem and "evidence" in problem for problem in problems), problems
    else:
        assert writes[1]["outcome"] == "refused"
        assert problems == []


def test_a_save_missing_from_the_history_is_reported(two_officers):
    count, (first, _) = two_officers
    url = f"/admin/licensing/usercount/{count.pk}/change/"
    since = time.time()
    write = _save(first, url, _open(first, url), model_pk=count.pk, field="evidence", value="Roster A", reason="l1")
    claimed = {**write, "value": "Roster B", "reason": "never sent", "started": time.time(), "finished": time.time()}
    problems = check_writes([write, claimed], since=since)["problems"]
    assert any("in the history 0 times" in problem for problem in problems), problems
    assert any("lost write" in problem for problem in problems), problems
