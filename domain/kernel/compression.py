"""The event store's compressor: zlib with a small window, and none for small events.

Events are a few hundred bytes. ``zlib.compress`` spends most of its time on them setting up
its 32 KiB window; a 4 KiB window is about 3x cheaper on ~500-byte events and compresses them
as well. Below ``SMALL`` bytes compression saves next to nothing (124 -> 110 bytes) and costs
about as much as the AES-GCM encryption that follows, so such states are stored as they are,
behind a one-byte marker (``\\x00``: never the first byte of a zlib stream, whose low nibble
is the method, 8). Also, not compressing small states keeps their ciphertext length from
depending on how well secrets in them compress.

Reading accepts both forms and any zlib stream, including what eventsourcing's
``ZlibCompressor`` wrote. (An older build configured with ``ZlibCompressor`` cannot read the
uncompressed form: roll back across this change only with a restored database.)
"""

from __future__ import annotations

import zlib

from eventsourcing.compressor import ZlibCompressor

TOPIC = "domain.kernel.compression:SmallWindowZlibCompressor"
SMALL = 256
RAW = b"\x00"


class SmallWindowZlibCompressor(ZlibCompressor):
    """zlib (4 KiB window, level 6) for states of ``SMALL`` bytes and more; raw below."""

    def compress(self, data: bytes) -> bytes:
        if len(data) < SMALL:
            return RAW + data
        c = zlib.compressobj(6, zlib.DEFLATED, 12)
        return c.compress(data) + c.flush()

    def decompress(self, data: bytes) -> bytes:
        if data[:1] == RAW:
            return data[1:]
        return zlib.decompress(data)
