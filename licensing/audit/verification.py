"""Tamper evidence: walk every history chain and report each place where the record was altered.

Four checks per object: each row's hash matches its content (an edited row fails); each row links
to the hash of the row before it (a deleted or inserted row breaks the link); the newest row is the
recorded chain head (a removed newest row shows, even one that changed nothing); the newest row
matches the live object, or records its deletion (an edit that bypassed history shows).
"""

import datetime
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from licensing import identifiers
from licensing.audit import hashing, people, purging
from licensing.audit import links as link_rows
from licensing.audit.records import record_type, tracked_models

CHUNK = 500


@dataclass(frozen=True)
class ChainBreak:
    record_type: str
    object_id: int
    history_id: int | None
    problem: str
    expected: str
    found: str

    def __str__(self):
        row = f"history row {self.history_id}" if self.history_id else "no history row"
        return (
            f"{self.record_type} {self.object_id}, {row}: {self.problem} (expected {self.expected}, found {self.found})"
        )


def verify_model(model, *, organization_id: int | None = None) -> Iterator[ChainBreak]:
    from licensing.models import ChainHead

    history_model = model.history.model
    pk_name = model._meta.pk.attname
    label = model._meta.verbose_name
    rows = history_model.objects.all()
    live = model._default_manager.all()
    if organization_id is not None:
        object_ids = people.organization_rows(history_model, organization_id).values(pk_name)
        rows = rows.filter(**{f"{pk_name}__in": object_ids})
        live = live.filter(pk__in=object_ids)
    all_ids = sorted(set(rows.values_list(pk_name, flat=True)) | set(live.values_list("pk", flat=True)))
    for start in range(0, len(all_ids), CHUNK):
        ids = all_ids[start : start + CHUNK]
        chunk_rows = list(history_model.objects.filter(**{f"{pk_name}__in": ids}).order_by(pk_name, "history_id"))
        stored = link_rows.recorded_links(history_model, [row.history_id for row in chunk_rows])
        objects = {obj.pk: obj for obj in model._default_manager.filter(pk__in=ids)}
        heads = {
            head.object_id: head
            for head in ChainHead.objects.filter(record_type=record_type(history_model), object_id__in=ids)
        }
        live = list(objects.values())
        live_ids = link_rows.live_links(model, live)
        links = {
            obj.pk: link_rows.link_ids(history_model, obj_links) for obj, obj_links in zip(live, live_ids, strict=True)
        }
        purged = purging.purged_chains(record_type(history_model), ids) if model in purging.REDACTED else {}
        chains = defaultdict(list)
        for row in chunk_rows:
            chains[getattr(row, pk_name)].append(row)
        for object_id in ids:
            chain = chains.get(object_id, [])
            yield from _verify_chain(
                label, object_id, chain, stored, objects.get(object_id), links, purged.get(object_id)
            )
            yield from _verify_head(label, object_id, chain, heads.get(object_id))


def _verify_chain(label, object_id, chain, stored, live_object, links, purged=None) -> Iterator[ChainBreak]:
    previous = None
    if purged is not None:
        yield from _verify_purged(label, object_id, chain, stored, purged)
    for row in chain:
        expected_previous = previous.row_hash if previous is not None else ""
        if row.previous_hash != expected_previous:
            yield ChainBreak(
                label,
                object_id,
                row.history_id,
                "link to the previous row is broken",
                expected_previous or "(first row)",
                row.previous_hash or "(first row)",
            )
        # A row a recorded purge redacted keeps its original hash; _verify_purged checked its content instead.
        redacted = purged is not None and row.history_id <= purged.last_history_id
        recomputed = row.row_hash if redacted else hashing.row_hash(row, stored.get(row.history_id, {}))
        if recomputed != row.row_hash:
            yield ChainBreak(
                label, object_id, row.history_id, "row content does not match its hash", recomputed, row.row_hash
            )
        previous = row
    if live_object is None:
        if previous is not None and previous.history_type != "-":
            yield ChainBreak(
                label,
                object_id,
                previous.history_id,
                "object is gone but its history records no deletion",
                "a deletion row",
                f"last row of type {previous.history_type}",
            )
        return
    if previous is None:
        yield ChainBreak(label, object_id, None, "object has no history", "at least one row", "none")
        return
    if previous.history_type == "-":
        yield ChainBreak(
            label,
            object_id,
            previous.history_id,
            "history records a deletion but the object exists",
            "no live object",
            "live object",
        )
        return
    expected = hashing.canonical_content(previous, stored.get(previous.history_id, {}))
    current = hashing.canonical_content(_as_history_row(previous, live_object), links.get(object_id, {}))
    if expected["values"] != current["values"] or expected["m2m"] != current["m2m"]:
        differing = sorted(
            name for name in expected["values"] if expected["values"][name] != current["values"].get(name)
        ) + sorted(name for name in expected["m2m"] if expected["m2m"][name] != current["m2m"].get(name))
        yield ChainBreak(
            label,
            object_id,
            previous.history_id,
            "live object differs from its newest history row",
            "the values of the newest row",
            "changes in " + ", ".join(differing),
        )


def _verify_purged(label, object_id, chain, stored, purged) -> Iterator[ChainBreak]:
    """The rows a purge redacted: as many as it recorded, ending at the head it recorded, with the content it left."""
    redacted = [row for row in chain if row.history_id <= purged.last_history_id]
    newest = redacted[-1] if redacted else None
    found = (newest.history_id, newest.row_hash, len(redacted)) if newest else (None, "none", 0)
    if found != (purged.last_history_id, purged.head_hash, purged.rows):
        yield ChainBreak(
            label,
            object_id,
            found[0],
            "purged rows differ from the chain the purge recorded",
            f"{purged.rows} row(s) ending at row {purged.last_history_id} ({purged.head_hash[:12]})",
            f"{found[2]} row(s) ending at row {found[0]} ({found[1][:12]})",
        )
    digest = purging.redacted_digest(redacted, stored)
    if digest != purged.redacted_digest:
        yield ChainBreak(
            label,
            object_id,
            found[0],
            "purged rows were changed after the purge",
            f"redacted content {purged.redacted_digest[:12]}",
            f"{digest[:12]}",
        )


def _verify_head(label, object_id, chain, head) -> Iterator[ChainBreak]:
    """The chain must end where its head says: removing the newest row, even of a no-change save, shows."""
    if not chain:
        return
    newest = chain[-1]
    if head is None:
        yield ChainBreak(
            label, object_id, newest.history_id, "no chain head recorded for this record", "a chain head", "none"
        )
    elif (head.history_id, head.row_hash) != (newest.history_id, newest.row_hash):
        yield ChainBreak(
            label,
            object_id,
            newest.history_id,
            "newest row is not the recorded end of the chain",
            f"row {head.history_id} ({head.row_hash[:12]})",
            f"row {newest.history_id} ({newest.row_hash[:12]})",
        )


def _as_history_row(newest, live_object):
    """A copy of the newest row carrying the live object's values, to compare field by field."""
    copy = type(newest)(**{field.attname: getattr(newest, field.attname) for field in newest._meta.concrete_fields})
    for field in newest.tracked_fields:
        setattr(copy, field.attname, getattr(live_object, field.attname))
    return copy


def verify(*, organization_id: int | None = None) -> list[ChainBreak]:
    """Every break in every chain (of one organization's records, when given), and in the purges' records."""
    chosen = tracked_models() if organization_id is None else people.organization_tracked_models()
    breaks = [broken for model in chosen for broken in verify_model(model, organization_id=organization_id)]
    return breaks + list(verify_purges(organization_id=organization_id))


def verify_purges(*, organization_id: int | None = None) -> Iterator[ChainBreak]:
    """Each purge's digests must match the chains it recorded, and each recorded chain must name a purge (2 queries).

    So a redaction cannot be claimed after the fact without changing a purge record, whose own chain is verified.
    """
    from licensing.models.purges import PurgedChain, RosterPurge

    purges = RosterPurge.objects.all()
    chains = PurgedChain.objects.order_by("purge_id", "record_type", "object_id")
    if organization_id is not None:
        purges = purges.filter(organization_id=organization_id)
        chains = chains.filter(purge_id__in=purges.values("pk"))
    purges = list(purges)
    known = {purge.pk: purge for purge in purges}
    if organization_id is not None and not known:
        # One organization's check without purges: its records name no purge (the whole check finds strays).
        return
    by_purge = defaultdict(list)
    for chain in chains:
        by_purge[chain.purge_id].append(chain)
    label = RosterPurge._meta.verbose_name
    for purge_id, recorded in by_purge.items():
        purge = known.get(purge_id)
        if purge is None:
            yield ChainBreak(
                label, purge_id, None, "redacted chains name a purge that is not recorded", "a purge", "none"
            )
            continue
        if purging.digests_of(recorded) != (purge.digest_before, purge.digest_after):
            yield ChainBreak(
                label,
                purge_id,
                None,
                "the chains recorded for this purge differ from its digests",
                f"{purge.digest_before[:12]} / {purge.digest_after[:12]}",
                "{} / {}".format(*(value[:12] for value in purging.digests_of(recorded))),
            )
    for purge in known.values():
        if purge.chains_purged and purge.pk not in by_purge:
            yield ChainBreak(
                label, purge.pk, None, "the chains this purge redacted are not recorded", "its chains", "none"
            )


# ---------------------------------------------------------------------------------------------
# Newest hashes kept outside the database
# ---------------------------------------------------------------------------------------------

HEADS_HEADER = ["record_type", "object_id", "history_id", "row_hash"]


def chain_heads(*, organization_id: int | None = None) -> Iterator[list]:
    """Every record's newest history row and hash (of one organization's records, when given).

    Kept somewhere the database's users cannot write, these prove later that no chain was rewritten
    consistently from an earlier point: a rewritten row no longer has the hash saved here.
    """
    from licensing.models import ChainHead

    if organization_id is None:
        selections = [ChainHead.objects.all()]
    else:
        selections = []
        for model in people.organization_tracked_models():
            history_model = model.history.model
            ids = people.organization_rows(history_model, organization_id).values(model._meta.pk.attname)
            selections.append(ChainHead.objects.filter(record_type=record_type(history_model), object_id__in=ids))
    for heads in selections:
        for head in heads.order_by("record_type", "object_id").iterator(chunk_size=CHUNK):
            yield [head.record_type, head.object_id, head.history_id, head.row_hash]


def check_saved_heads(lines) -> list[ChainBreak]:
    """Each saved head's row must still exist with the hash saved for it (rows are only ever added)."""
    history_models = {record_type(model.history.model): model.history.model for model in tracked_models()}
    breaks = []
    for line in lines:
        record, object_id, history_id, saved_hash = line[0], int(line[1]), int(line[2]), line[3]
        history_model = history_models.get(record)
        found = (
            history_model.objects.filter(history_id=history_id).values_list("row_hash", flat=True).first()
            if history_model is not None
            else None
        )
        if found != saved_hash:
            breaks.append(
                ChainBreak(
                    record,
                    object_id,
                    history_id,
                    "history row differs from the copy of its hash kept outside the database",
                    saved_hash,
                    found or "no such row",
                )
            )
    return breaks


# ---------------------------------------------------------------------------------------------
# One digest of every chain, to keep outside the database
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """SHA-256 over the sorted (chain, newest hash, length) of every chain, counting rows dated up to `as_of`."""

    as_of: datetime.datetime
    chains: int
    value: str

    def line(self) -> str:
        """The digest as one line to keep (mail, write-once storage) and give back to --expect-file."""
        return f"{self.as_of.isoformat()} {self.chains} {self.value}"


def chains_digest(as_of: datetime.datetime) -> Digest:
    """The digest of every history chain as it stood at `as_of`, from the history rows alone.

    Each chain is a record (its type and id); its newest row at `as_of` (by history id, the chain's order)
    gives the hash, and its rows up to then the length. A rewrite of any row dated up to `as_of`, a deleted
    or inserted row, a removed or added chain, all change it; rows written later do not.
    """
    lines = []
    for model in tracked_models():
        history_model = model.history.model
        pk_name = model._meta.pk.attname
        rows = history_model.objects.filter(history_date__lte=as_of).order_by(pk_name, "history_id")
        current, newest, length = None, "", 0
        for object_id, row_hash in rows.values_list(pk_name, "row_hash").iterator(chunk_size=5000):
            if object_id != current:
                if current is not None:
                    lines.append(f"{record_type(history_model)},{current},{newest},{length}")
                current, length = object_id, 0
            newest, length = row_hash, length + 1
        if current is not None:
            lines.append(f"{record_type(history_model)},{current},{newest},{length}")
    lines.sort()
    value = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return Digest(as_of=as_of, chains=len(lines), value=value)


def parse_digest_line(text: str) -> Digest | None:
    """A line Digest.line() wrote (the first one that parses), or None."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or identifiers.record_id(parts[1]) is None or not DIGEST_PATTERN.fullmatch(parts[2]):
            continue
        try:
            as_of = datetime.datetime.fromisoformat(parts[0])
        except ValueError:
            continue
        if as_of.tzinfo is None:
            continue
        return Digest(as_of=as_of, chains=int(parts[1]), value=parts[2])
    return None


DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")
