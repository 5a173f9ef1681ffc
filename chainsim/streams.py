"""Named random streams: one generator per source, spawned from the seed by name.

Naming (rather than spawning in order) means adding a department or a step does not shift the
numbers any other source draws, so scenarios compare under common random numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream_key(name: str) -> tuple[int, int]:
    """Two 32-bit words from a stable hash of the name (Python's hash() changes per process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


class Streams:
    """The generators of one replication: ``streams("arrivals:walk_in")`` is always the same stream."""

    def __init__(self, seed: int, replication: int):
        self.seed = int(seed)
        self.replication = int(replication)

    def __call__(self, name: str) -> np.random.Generator:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replication, *stream_key(name)))
        return np.random.Generator(np.random.PCG64(sequence))
