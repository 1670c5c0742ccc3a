"""Generated interaction ids (kaimen.gateway.entry): version 7 UUIDs whose random part comes from the
operating system's CSPRNG, read in chunks, and never repeats, across chunks or forked workers."""

from __future__ import annotations

import os
import uuid

from kaimen.gateway.entry import RandomHex, new_interaction_id


def test_ids_across_many_chunks_are_distinct_version_7_uuids() -> None:
    count = 3 * RandomHex.CHUNK_BYTES  # ~30 chunks of random digits
    ids = [new_interaction_id() for _ in range(count)]
    assert len(set(ids)) == count
    for value in ids[:: RandomHex.CHUNK_BYTES // 10]:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)


def test_digits_are_handed_out_once() -> None:
    digits = RandomHex()
    taken = [digits.take(20) for _ in range(2 * RandomHex.CHUNK_BYTES // 10)]
    assert all(len(part) == 20 and int(part, 16) >= 0 for part in taken)
    assert len(set(taken)) == len(taken)


def test_a_forked_worker_does_not_repeat_the_parent_s_digits() -> None:
    digits = RandomHex()
    digits.take(20)  # the parent's buffer is full when the worker forks
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child process)
        try:
            os.write(write, digits.take(20).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    assert len(from_child) == 20
    assert from_child != digits.take(20)
