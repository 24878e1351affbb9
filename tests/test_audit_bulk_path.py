"""The audited bulk path's shortcuts write what the slow way writes: history rows built without Model.__init__ hash
and record the same as rows built through it, and chain heads sent by COPY for new records fall back to the upsert
when a record already has a head."""

import pytest
from django.db.models import signals

from licensing import services
from licensing.audit import bulk, stamping, verification
from licensing.audit.stamping import move_heads
from licensing.models import ChainHead, Organization
from licensing.models.rosters import Person

AUDIT_COLUMNS = ["row_hash", "changed_fields", "organization_id", "history_user_name", "previous_hash"]


def written_rows(org, actor, prefix):
    people = services.record_bulk_create(
        [Person(organization=org, identifier=f"{prefix}{n}", name=f"Person {n}", country="IN") for n in range(3)],
        Person,
        actor=actor,
        reason="Same reason",
    )
    rows = Person.history.model.objects.filter(id__in=[person.pk for person in people]).order_by("id")
    return list(rows.values(*AUDIT_COLUMNS, "identifier", "name", "country", "history_type"))


@pytest.mark.django_db
def test_rows_built_directly_match_rows_built_through_init(org_a, officer):
    assert bulk._built_directly(Person.history.model)
    direct = written_rows(org_a, officer, "A")

    def listener(**kwargs):
        """Does nothing: being connected is what changes how rows are built."""

    # A receiver of post_init makes the path build rows through Model.__init__, so it sees every one.
    signals.post_init.connect(listener, sender=Person.history.model)
    try:
        assert not bulk._built_directly(Person.history.model)
        through_init = written_rows(org_a, officer, "B")
    finally:
        signals.post_init.disconnect(listener, sender=Person.history.model)
    for row in [*direct, *through_init]:
        assert row["row_hash"] and row["history_user_name"] == officer.username and row["history_type"] == "+"
        assert row["organization_id"] == org_a.pk
    # The same content but the identifier: the same fields recorded as changed.
    assert [row["changed_fields"] for row in direct] == [row["changed_fields"] for row in through_init]
    assert ",identifier," in direct[0]["changed_fields"] and ",country," in direct[0]["changed_fields"]
    assert verification.verify() == []


@pytest.mark.django_db
def test_heads_of_many_new_records_are_written_by_copy_and_verify(org_a, officer, monkeypatch):
    monkeypatch.setattr(stamping, "COPY_HEADS_FROM", 2)
    people = services.record_bulk_create(
        [Person(organization=org_a, identifier=f"C{n}", name=f"Person {n}", country="US") for n in range(3)],
        Person,
        actor=officer,
        reason="Imported",
    )
    heads = dict(
        ChainHead.objects.filter(record_type="licensing.person").values_list("object_id", "row_hash").order_by()
    )
    rows = Person.history.model.objects.filter(id__in=[person.pk for person in people])
    assert heads == {row.id: row.row_hash for row in rows}
    assert verification.verify() == []


@pytest.mark.django_db
def test_heads_of_new_records_fall_back_to_the_upsert_when_one_exists(org_a, officer, monkeypatch):
    monkeypatch.setattr(stamping, "COPY_HEADS_FROM", 1)
    organization = services.record_save(Organization(name="Beta", slug="beta-heads"), actor=officer, reason="Added")
    head = ChainHead.objects.get(record_type="licensing.organization", object_id=organization.pk)
    newest = Organization.history.model.objects.filter(id=organization.pk).latest("history_id")
    newest.history_id, newest.row_hash = head.history_id + 1000, "f" * 64
    # Told the record is new although it has a head: the head is still moved, not duplicated nor refused.
    move_heads([newest], new_records=True)
    head.refresh_from_db()
    assert (head.history_id, head.row_hash) == (newest.history_id, "f" * 64)
    assert ChainHead.objects.filter(record_type="licensing.organization", object_id=organization.pk).count() == 1
