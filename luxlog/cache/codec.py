"""Chunk encoding: an hour of samples as two small compressed blobs.

Why this shape: a Luxtronik controller sends ~1,300 integers per poll, and almost all
of them are identical from one poll to the next (parameters are settings; most
calculations are states, codes and counters that rarely move). Storing every value of
every poll (78 KB of JSON per poll in the reference implementation) therefore stores
the same numbers millions of times. A chunk stores instead:

* the **timestamps** as the difference to the previous one (``uint32``; 30,000 ± jitter
  at the usual interval), so a gap check never has to touch the values;
* one **key frame** (the chunk's first sample) as the difference to a *reference
  vector* kept once per firmware shape in the database: parameters and most
  calculations equal the reference, so the key frame is mostly zeros;
* the indices of the few **columns that change** within the chunk, and for each of
  them the differences from one poll to the next, so counters that advance by the
  interval and temperatures that wobble by a tenth become tiny numbers.

Everything is zig-zag encoded to unsigned 64-bit (small negative numbers stay small),
split into byte planes (all low bytes, then all second bytes, ...; the high planes are
runs of zeros) and compressed with zlib. The result is 5-10 bytes per poll, and
decoding is mostly C-level work (``zlib``, slice assignment, ``itertools.accumulate``,
``zip``) because luxlog runs on small machines without numpy.

The encoding is lossless for any int32 vectors: differences are computed on Python
integers (no wrap-around), and a test round-trips the real captures exactly.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate, islice, pairwise, repeat
from operator import sub

CODEC_VERSION = 1

# Chunks cover one clock hour (UTC): ~120 polls at the usual 30-s interval, which is
# enough to amortise the key frame and small enough that re-encoding the newest chunk
# on every flush (the "open chunk") costs a few milliseconds.
CHUNK_MS = 3_600_000

_ZLIB_LEVEL = 9  # blobs are small; level 9 costs little more time than 6 and saves ~5%
_LITTLE = sys.byteorder == "little"

if array("I").itemsize != 4 or array("Q").itemsize != 8:  # pragma: no cover - exotic ABI
    raise ImportError("luxlog.cache.codec needs 32-bit 'I' and 64-bit 'Q' arrays")


class CodecError(ValueError):
    """A blob does not decode to what its row says (corruption or a foreign writer)."""


def bucket_of(timestamp_ms: int) -> int:
    """Start (epoch ms) of the chunk that holds ``timestamp_ms``."""
    return timestamp_ms - timestamp_ms % CHUNK_MS


def _zigzag(value: int) -> int:
    # Python's >> on negative ints is arithmetic, so this is the usual zig-zag map
    # (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) for any |value| < 2**63.
    return (value << 1) ^ (value >> 63)


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _pack(values: Sequence[int], typecode: str) -> bytes:
    """Little-endian array bytes split into byte planes, then zlib-compressed."""
    items = array(typecode, values)
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        items.byteswap()
    raw = items.tobytes()
    width = items.itemsize
    planes = b"".join(raw[plane::width] for plane in range(width))
    return zlib.compress(planes, _ZLIB_LEVEL)


def _unpack(blob: bytes, typecode: str) -> array[int]:
    """Inverse of :func:`_pack`."""
    try:
        planes = zlib.decompress(blob)
    except zlib.error as exc:
        raise CodecError(f"chunk blob does not decompress ({exc})") from None
    items = array(typecode)
    width = items.itemsize
    if len(planes) % width:
        raise CodecError("chunk blob has a truncated value")
    count = len(planes) // width
    raw = bytearray(len(planes))
    for plane in range(width):
        raw[plane::width] = planes[plane * count : (plane + 1) * count]
    items.frombytes(bytes(raw))
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        items.byteswap()
    return items


def encode_times(timestamps: Sequence[int]) -> bytes:
    """Timestamps (sorted, unique, within one chunk) after the first, as differences."""
    deltas = [b - a for a, b in pairwise(timestamps)]
    if deltas and (min(deltas) <= 0 or max(deltas) >= 2**32):
        raise ValueError("timestamps must be strictly increasing and within one chunk")
    return _pack(deltas, "I")


def decode_times(first_ms: int, count: int, blob: bytes) -> list[int]:
    """The ``count`` timestamps of a chunk whose first one is ``first_ms``."""
    deltas = _unpack(blob, "I")
    if len(deltas) != count - 1:
        raise CodecError(f"chunk has {len(deltas) + 1} timestamps, its row says {count}")
    return list(accumulate(deltas, initial=first_ms))


def encode_values(rows: Sequence[Sequence[int]], reference: Sequence[int]) -> bytes:
    """Encode ``rows`` (equal-length value vectors, in time order) against ``reference``.

    Layout of the zig-zag stream: ``n, m, k``, the ``k`` changing column indices as
    gaps, the key frame as ``m`` differences to the reference, then ``n - 1``
    poll-to-poll differences for each changing column, column after column (so one
    sensor's wobble sits together, which compresses better than poll after poll).
    """
    n = len(rows)
    if n == 0:
        raise ValueError("a chunk holds at least one sample")
    m = len(rows[0])
    if len(reference) != m:
        raise ValueError(f"reference has {len(reference)} values, rows have {m}")
    columns = list(zip(*rows, strict=True)) if m else []
    key = rows[0]
    # tuple.count runs in C: a column is constant iff its first value fills it.
    changing = [j for j, column in enumerate(columns) if column.count(column[0]) != n]
    stream: list[int] = [n, m, len(changing)]
    stream += [b - a for a, b in zip([0, *changing], changing, strict=False)]
    # Zig-zag inline, as in decode_values: one function call per value dominated flushes.
    stream += [(d << 1) ^ (d >> 63) for d in map(sub, key, reference)]
    for j in changing:
        column = columns[j]
        stream += [(d << 1) ^ (d >> 63) for d in map(sub, column[1:], column)]
    return _pack(stream, "Q")


def _value_stream(blob: bytes, n: int, m: int) -> tuple[array[int], int]:
    """The zig-zag stream of a value blob and its count of changing columns, checked.

    zlib's checksum covers every byte; the header and the length must agree with the
    chunk's row (``n`` samples of ``m`` values), or the blob is not what the row says.
    """
    stream = _unpack(blob, "Q")
    if len(stream) < 3 or stream[0] != n or stream[1] != m:
        raise CodecError(f"chunk blob does not hold {n} samples of {m} values")
    k = stream[2]
    if len(stream) != 3 + k + m + k * (n - 1):
        raise CodecError("chunk blob has the wrong length for its header")
    return stream, k


def decode_frame(
    blob: bytes, n: int, m: int, reference: Sequence[int]
) -> tuple[list[int], dict[int, list[int]]]:
    """A chunk as columns: the key frame, and the ``n`` values of each column that changes.

    Exports read this shape directly: a column that does not change within the chunk is
    formatted once for all its samples instead of once per sample.
    """
    stream, k = _value_stream(blob, n, m)
    if len(reference) != m:
        raise CodecError("chunk blob has the wrong length for its header")
    position = 3
    changing = list(accumulate(islice(stream, position, position + k)))
    position += k
    # Zig-zag decoding is written inline (not via _unzigzag): it runs once per stored
    # value on every read, and a function call per value dominated roll-up time.
    key = [
        r + ((z >> 1) ^ -(z & 1))
        for r, z in zip(reference, islice(stream, position, position + m), strict=True)
    ]
    position += m
    columns: dict[int, list[int]] = {}
    for j in changing:
        # A slice, not islice: islice walks the list from its start, which made a chunk
        # of wide vectors (10,000 changing values) quadratic - minutes for one hour.
        deltas = stream[position : position + n - 1]
        columns[j] = list(accumulate([(z >> 1) ^ -(z & 1) for z in deltas], initial=key[j]))
        position += n - 1
    return key, columns


def decode_values(
    blob: bytes, n: int, m: int, reference: Sequence[int]
) -> Iterator[tuple[int, ...]]:
    """The ``n`` value vectors of a chunk, each a tuple of ``m`` ints, in time order."""
    key, changing = decode_frame(blob, n, m, reference)
    # Constant columns are repeat() iterators, so zip(*columns) builds the rows in C.
    columns: list[Iterable[int]] = [repeat(value, n) for value in key]
    for j, values in changing.items():
        columns[j] = values
    if not columns:
        return iter([()] * n)
    return zip(*columns, strict=False)


def decode_split(
    blob: bytes, n: int, m: int, reference: Sequence[int], split: int
) -> tuple[Iterable[tuple[int, ...]], Iterable[tuple[int, ...]]]:
    """The ``n`` vectors of a chunk cut at ``split``: values ``[:split]`` and
    ``[split:]`` as two row iterators (calculations and parameters, for a sample).

    Why not :func:`decode_values` and slices: slicing every ~1,300-value row copies it
    again, and the parameter half rarely changes within an hour, so then one tuple
    serves every sample (readers can compare it by identity).
    """
    key, changing = decode_frame(blob, n, m, reference)
    halves: list[Iterable[tuple[int, ...]]] = []
    for low, high in ((0, split), (split, m)):
        moving = [j for j in changing if low <= j < high]
        if not moving:
            halves.append(repeat(tuple(key[low:high]), n))
            continue
        columns: list[Iterable[int]] = [repeat(value, n) for value in key[low:high]]
        for j in moving:
            columns[j - low] = changing[j]
        halves.append(zip(*columns, strict=False))
    return halves[0], halves[1]


def decode_columns(
    blob: bytes, n: int, m: int, reference: Sequence[int], wanted: Sequence[int]
) -> list[Sequence[int]]:
    """Only the columns ``wanted`` (indices below ``m``) of a chunk, each as ``n`` values.

    Why: statistics and reports need ~15 of ~1,300 registers. The blob must still be
    decompressed whole (C work), but only the wanted columns are zig-zag decoded and
    accumulated, which is where the time of a full decode goes.
    """
    stream, k = _value_stream(blob, n, m)
    if len(reference) != m:
        raise CodecError("chunk blob has the wrong length for its header")
    rank = {j: r for r, j in enumerate(accumulate(islice(stream, 3, 3 + k)))}
    key_at = 3 + k
    deltas_at = key_at + m
    columns: list[Sequence[int]] = []
    for j in wanted:
        if not 0 <= j < m:
            raise IndexError(f"column {j} is outside the chunk's {m} values")
        z = stream[key_at + j]
        first = reference[j] + ((z >> 1) ^ -(z & 1))
        r = rank.get(j)
        if r is None:
            columns.append([first] * n)
        else:
            start = deltas_at + r * (n - 1)
            deltas = [(z >> 1) ^ -(z & 1) for z in stream[start : start + n - 1]]
            columns.append(list(accumulate(deltas, initial=first)))
    return columns


def check_values(blob: bytes, n: int, m: int) -> None:
    """Raise ``CodecError`` unless ``blob`` is an intact value blob of ``n`` x ``m``.

    zlib's checksum covers every byte, and the header and length are checked, without
    building the ``n * m`` Python ints: verifying a year of chunks this way takes about
    a second instead of the half minute a full decode costs.
    """
    _value_stream(blob, n, m)


def differing(vector: Sequence[int], reference: Sequence[int]) -> int:
    """How many positions differ: decides when a reference is too stale to help."""
    return sum(1 for a, b in zip(vector, reference, strict=True) if a != b)


def encode_reference(vector: Sequence[int]) -> bytes:
    """A reference vector as stored in the ``refs`` table."""
    return _pack([_zigzag(v) for v in vector], "Q")


def decode_reference(blob: bytes) -> tuple[int, ...]:
    """Inverse of :func:`encode_reference`."""
    return tuple(map(_unzigzag, _unpack(blob, "Q")))
