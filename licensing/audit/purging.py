"""Redacting the history of purged people (services.roster_people_purge) and telling those rows from tampered ones.

A purge overwrites the personal fields of a record's history rows written before it. Those rows keep their
row_hash and previous_hash: the links between rows, the chain heads and every digest or heads file kept outside
the database still verify. What a row's hash covered can no longer be recomputed, so the purge records, per chain,
the newest row it redacted, that row's hash, the number of rows, and a SHA-256 over the redacted rows' contents
(PurgedChain); the verification checks those instead of each redacted row's own hash (licensing.audit.verification).
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from licensing.audit import hashing
from licensing.audit import links as link_rows
from licensing.audit.records import record_type

CHUNK = 500


class _Redacted:
    """The models whose history a purge redacts, read lazily (the models are not loaded when this is imported)."""

    def __contains__(self, model) -> bool:
        from licensing.models.reconciliation import FindingAcceptance
        from licensing.models.rosters import Person

        return model is Person or model is FindingAcceptance


# The verification looks up purged chains only for these models, so other chains cost no query.
REDACTED = _Redacted()
PURGED_NAME = "(purged)"
PURGED_PREFIX = "purged-"


class ById(str):
    """A redacted value made of this prefix and the row's id (unique, as the identifier constraints need)."""


# What a purge writes, per field, for a person and for an accepted finding naming them: the live rows and the
# history rows both take their values from here (values_for, expressions_for), so the two cannot drift.
PERSON = {"identifier": ById(PURGED_PREFIX), "name": PURGED_NAME, "email": "", "npi": ""}
ACCEPTANCE = {"identifier": ById(f"{PURGED_PREFIX}acceptance-"), "person_name": PURGED_NAME}


def values_for(redaction: dict, pk: int) -> dict:
    """The values one live row takes (its id known)."""
    return {field: f"{value}{pk}" if isinstance(value, ById) else value for field, value in redaction.items()}


def expressions_for(redaction: dict, pk_name: str) -> dict:
    """The same values as expressions over a history row, for one UPDATE of many rows."""
    return {
        field: Concat(Value(str(value)), Cast(pk_name, CharField())) if isinstance(value, ById) else Value(value)
        for field, value in redaction.items()
    }


@dataclass(frozen=True)
class Head:
    """A chain as it stood before the purge: its newest row, that row's hash and the number of rows."""

    object_id: int
    history_id: int
    row_hash: str
    rows: int


def heads_of(model, object_ids) -> dict[int, Head]:
    """The chain of each object in `object_ids` as it stands now (one query per CHUNK objects)."""
    history_model = model.history.model
    pk_name = model._meta.pk.attname
    ids = sorted(set(object_ids))
    heads: dict[int, Head] = {}
    for start in range(0, len(ids), CHUNK):
        rows = (
            history_model.objects.filter(**{f"{pk_name}__in": ids[start : start + CHUNK]})
            .order_by(pk_name, "history_id")
            .values_list(pk_name, "history_id", "row_hash")
        )
        for object_id, history_id, row_hash in rows:
            earlier = heads.get(object_id)
            heads[object_id] = Head(object_id, history_id, row_hash, (earlier.rows if earlier else 0) + 1)
    return heads


def chain_line(kind: str, object_id: int, row_hash: str, rows: int) -> str:
    """One chain as verify_audit_trail's digest writes it: record type, id, newest hash, number of rows."""
    return f"{kind},{object_id},{row_hash},{rows}"


def digest(lines) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def redacted_digest(rows, stored_links) -> str:
    """SHA-256 over the redacted rows of one chain as they are stored: each row's id and the hash of its content."""
    return digest(
        f"{row.history_id}:{hashing.row_hash(row, stored_links.get(row.history_id, {}))}"
        for row in sorted(rows, key=lambda row: row.history_id)
    )


def redact(model, heads: dict[int, Head], values: dict) -> list:
    """Overwrite `values` in every history row up to each chain's head; the unsaved PurgedChain of each chain.

    Rows written after the heads were read (the purge's own, with the redacted values already) are left alone. The
    chains get their purge's id once the purge record is saved (its digests are made from them first).
    """
    from licensing.models.purges import PurgedChain

    history_model = model.history.model
    pk_name = model._meta.pk.attname
    kind = record_type(history_model)
    ids = sorted(heads)
    chains = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        newest = max(heads[object_id].history_id for object_id in chunk)
        rows = history_model.objects.filter(**{f"{pk_name}__in": chunk, "history_id__lte": newest})
        # History is never edited, except here: the purge the retention rule asks for, recorded as PurgedChain.
        rows.update(**values)
        redacted = defaultdict(list)
        stored = list(rows.order_by(pk_name, "history_id"))
        stored_links = link_rows.recorded_links(history_model, [row.history_id for row in stored])
        for row in stored:
            redacted[getattr(row, pk_name)].append(row)
        for object_id in chunk:
            head = heads[object_id]
            chains.append(
                PurgedChain(
                    purge_id=0,
                    record_type=kind,
                    object_id=object_id,
                    last_history_id=head.history_id,
                    head_hash=head.row_hash,
                    rows=head.rows,
                    redacted_digest=redacted_digest(redacted[object_id], stored_links),
                )
            )
    return chains


def keep(chains, *, purge_id: int) -> None:
    """Store the PurgedChain index of one purge (not a tracked model: the purge record itself is)."""
    from licensing.models.purges import PurgedChain

    for chain in chains:
        chain.purge_id = purge_id
    PurgedChain.objects.bulk_create(chains, batch_size=CHUNK)


def digests_of(chains) -> tuple[str, str]:
    """The purge record's two digests from its chains: the heads before the purge, and the redacted contents."""
    before = digest(chain_line(chain.record_type, chain.object_id, chain.head_hash, chain.rows) for chain in chains)
    after = digest(f"{chain.record_type},{chain.object_id},{chain.redacted_digest}" for chain in chains)
    return before, after


def purged_chains(kind: str, object_ids) -> dict:
    """The newest purge of each of these chains, by object id (one query)."""
    from licensing.models.purges import PurgedChain

    found: dict = {}
    for chain in PurgedChain.objects.filter(record_type=kind, object_id__in=object_ids).order_by("last_history_id"):
        found[chain.object_id] = chain
    return found
