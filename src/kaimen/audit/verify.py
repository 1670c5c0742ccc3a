"""``kaimen audit verify``: walk the chain in ``seq`` order and find the first record that breaks it.

Per record, in this order (the first failing check names the problem):
- gap in seq: ``seq`` is not one more than the record before (the first is 1): a record was removed;
- broken link: ``prev_digest`` is not the digest of the record before (GENESIS for the first);
- digest mismatch: the stored digest is not the one recomputed from the record's own fields.

The chain proves that nothing before its last record was changed, removed or reordered; cutting
records off the end leaves a shorter valid chain, which only a head digest kept elsewhere reveals.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaimen.audit.chain import GENESIS, encode_body, link
from kaimen.audit.store import fields_of_row, pages
from kaimen.store.db import Database


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    interaction_id: str
    problem: str


@dataclass(frozen=True, slots=True)
class Verdict:
    count: int  # records checked (all of them when the chain is intact)
    head: str  # digest of the last intact record (GENESIS when there is none)
    broken: Break | None = None


async def verify(db: Database) -> Verdict:
    count, prev = 0, GENESIS
    async for rows in pages(db):
        for row in rows:
            expected_seq = count + 1
            if row.seq != expected_seq:
                problem = f"gap in seq: expected {expected_seq}, found {row.seq}"
            elif row.prev_digest != prev:
                problem = "broken link: prev_digest is not the digest of the record before"
            elif row.digest != link(prev, row.seq, encode_body(fields_of_row(row))):
                problem = "digest mismatch: a field was changed after the record was written"
            else:
                count, prev = expected_seq, row.digest
                continue
            return Verdict(count, prev, Break(row.seq, row.interaction_id, problem))
    return Verdict(count, prev)
