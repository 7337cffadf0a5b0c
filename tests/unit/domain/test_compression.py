"""The event store's compressor: every state round-trips, whatever its size or bytes."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from domain.kernel.compression import RAW, SMALL, SmallWindowZlibCompressor

compressor = SmallWindowZlibCompressor()


@given(st.binary(max_size=3 * SMALL))
def test_every_state_round_trips(data: bytes) -> None:
    assert compressor.decompress(compressor.compress(data)) == data


@given(st.binary(max_size=3 * SMALL))
def test_what_zlib_wrote_is_read(data: bytes) -> None:
    # states written before this compressor (eventsourcing's ZlibCompressor: zlib.compress)
    assert compressor.decompress(zlib.compress(data)) == data


def test_small_states_are_stored_raw_and_large_ones_compressed() -> None:
    small = b'{"key":"k0","value":{"value":0}}'
    assert compressor.compress(small) == RAW + small
    large = b'{"steps":[' + b'{"id":"s","uses":"noop"},' * 40 + b"]}"
    packed = compressor.compress(large)
    assert packed[0] & 0x0F == 8  # a zlib stream (method 8), never the raw marker
    assert len(packed) < len(large) / 4
