"""Compressed record batches: Kafka's four codecs, and a batch kept only as compressed bytes.

A producer with ``compression_type`` hands each batch to ``Broker.append(...,
compression=name)``; the broker encodes the batch's records into bytes (:func:`encode_records`)
and compresses them once, *before* taking its lock, into a :class:`CompressedBatch`. The
partition log keeps only that object (one reference per offset), as Kafka keeps a compressed
batch on disk, and decompresses it when a fetch reads it. The saving shows in
``Broker.log_stats()`` (stored against uncompressed bytes).

``gzip`` is in the standard library and always available. ``snappy``, ``lz4`` and ``zstd`` need
a codec package: the ``compression`` extra installs them (``pip install lz4 zstandard cramjam``).
Asking for one that is missing is a ``KafkaConfigurationError`` naming the package.

The encoding is pcmodel's own (length-prefixed fields with :mod:`struct`), not Kafka's record
batch v2: storage is not a wire format here, and the Kafka protocol listener converts at its door.
A record appended without a timestamp (``None``) is marked so, and gets the batch's append time
when decoded (Kafka's LogAppendTime is a batch field too); any int, negative ones included (a
Kafka client's, see :class:`~pcmodel.topics.log_records.WireRecord`), is kept as it is.

Levels (Kafka's ``compression.gzip.level``, ``compression.lz4.level``,
``compression.zstd.level``, KIP-390): :data:`COMPRESSION_LEVELS` has Kafka's range and default
of each; ``get_codec(name, level)`` compresses at that level, as closely as the Python package
allows (lz4's Kafka default, 9, is lz4's fast mode, as Kafka's is; python-lz4 caps its high
levels at 16, Kafka's lz4 at 17). snappy has no levels.

A record batch a Kafka client produced is decompressed by :func:`decompress_bounded`, which
stops once the output passes a limit (the Kafka listener's is
:data:`~pcmodel.wire.records.MAX_DECOMPRESSED_BYTES`): a few hundred KiB of compressed zeros
can expand to gigabytes, and the broker must not allocate them to find out. It reads the
payloads as Kafka's clients frame them: gzip members, lz4 frames, zstd frames, snappy raw or
in xerial's blocks.

Prior art: kafka-python's ``kafka/codec.py`` (which packages provide which codec, cramjam as the
fallback for all three) and Kafka's ``CompressionType``.
"""

from __future__ import annotations

import gzip
import importlib
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

from pcmodel.topics.errors import KafkaConfigurationError

__all__ = [
    "CODEC_NAMES",
    "COMPRESSION_LEVELS",
    "Codec",
    "CompressedBatch",
    "DecompressedTooLarge",
    "decode_records",
    "decompress_bounded",
    "encode_records",
    "get_codec",
    "record_size",
]

#: The values ``compression_type`` accepts (besides ``None``), as Kafka names them.
CODEC_NAMES = ("gzip", "snappy", "lz4", "zstd")


class Codec(NamedTuple):
    """One compression codec: its Kafka name and a pair of functions on bytes."""

    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


#: Kafka's compression levels, by codec: ``(lowest, highest, default)``. gzip also takes -1,
#: its default (zlib's level 6).
COMPRESSION_LEVELS = {"gzip": (1, 9, -1), "lz4": (1, 17, 9), "zstd": (-131072, 22, 3)}


def _gzip(level: int) -> Codec:
    # mtime=0 keeps equal batches byte-for-byte equal.
    level = 6 if level == -1 else level
    return Codec("gzip", lambda data: gzip.compress(data, level, mtime=0), gzip.decompress)


def _import(module: str):  # noqa: ANN202 - a module or None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _snappy(level: int) -> Codec | None:
    cramjam = _import("cramjam")
    if cramjam is not None:
        return Codec(
            "snappy",
            lambda data: bytes(cramjam.snappy.compress_raw(data)),
            lambda data: bytes(cramjam.snappy.decompress_raw(data)),
        )
    snappy = _import("snappy")
    if snappy is not None:
        return Codec("snappy", snappy.compress, snappy.decompress)
    return None


def _lz4(level: int) -> Codec | None:
    # Kafka's default level is lz4's fast compressor; any other is the high-compression one.
    fast = level == COMPRESSION_LEVELS["lz4"][2]
    frame = _import("lz4.frame")
    if frame is not None:
        return Codec("lz4", lambda data: frame.compress(
            data, compression_level=0 if fast else min(level, 16)), frame.decompress)
    cramjam = _import("cramjam")
    if cramjam is not None:
        return Codec(
            "lz4",
            lambda data: bytes(cramjam.lz4.compress(data, level=None if fast else level)),
            lambda data: bytes(cramjam.lz4.decompress(data)),
        )
    return None


def _zstd(level: int) -> Codec | None:
    zstandard = _import("zstandard")
    if zstandard is not None:
        return Codec(
            "zstd",
            lambda data: zstandard.ZstdCompressor(level=level).compress(data),
            lambda data: zstandard.ZstdDecompressor().decompress(data),
        )
    cramjam = _import("cramjam")
    if cramjam is not None:
        return Codec(
            "zstd",
            lambda data: bytes(cramjam.zstd.compress(data, level=level)),
            lambda data: bytes(cramjam.zstd.decompress(data)),
        )
    return None


_FACTORIES = {"gzip": _gzip, "snappy": _snappy, "lz4": _lz4, "zstd": _zstd}
_PACKAGES = {"snappy": "cramjam (or python-snappy)", "lz4": "lz4 (or cramjam)",
             "zstd": "zstandard (or cramjam)"}
_cache: dict[tuple[str, int], Codec] = {}


def get_codec(name: str | None, level: int | None = None) -> Codec | None:
    """Return the codec called ``name`` (``None`` for no compression), compressing at Kafka's
    ``level`` (``None``: Kafka's default; ignored by snappy).

    Raises ``KafkaConfigurationError`` for a name Kafka does not have, or for a codec whose
    package is not installed (naming the package and the ``compression`` extra), and
    ``ValueError`` for a level outside the codec's :data:`COMPRESSION_LEVELS`.
    """
    if name is None:
        return None
    if name not in _FACTORIES:
        raise KafkaConfigurationError(
            f"compression_type must be None or one of {', '.join(CODEC_NAMES)}, got {name!r}"
        )
    lowest, highest, default = COMPRESSION_LEVELS.get(name, (0, 0, 0))
    level = default if level is None or name == "snappy" else level
    if not (lowest <= level <= highest or level == default):
        raise ValueError(f"{name} compression level must be between {lowest} and {highest}, "
                         f"got {level}")
    codec = _cache.get((name, level))
    if codec is None:
        codec = _FACTORIES[name](level)
        if codec is None:
            raise KafkaConfigurationError(
                f"compression_type={name!r} needs the {_PACKAGES[name]} package: pip install "
                f"{_PACKAGES[name].split()[0]} (the 'compression' extra), or use "
                "compression_type='gzip'"
            )
        _cache[(name, level)] = codec
    return codec


# --- a Kafka client's compressed records, decompressed up to a limit ----------------------------


class DecompressedTooLarge(ValueError):
    """A compressed payload expands to more bytes than the limit it was decompressed with."""


#: Output asked of a streaming decompressor at a time: memory stays near the limit.
_READ = 1 << 20
#: The largest zstd window a produced frame may ask for (Kafka's clients use 2 MiB or less).
_ZSTD_MAX_WINDOW = 1 << 23
_XERIAL_HEADER = b"\x82SNAPPY\x00"


def decompress_bounded(name: str, data: bytes, limit: int) -> bytes:
    """``data`` compressed with Kafka's codec ``name`` (``gzip``, ``snappy``, ``lz4``,
    ``zstd``, as a Kafka client frames it), decompressed, holding at most ``limit`` bytes of
    output (and one read of 1 MiB) at any time.

    Raises :class:`DecompressedTooLarge` as soon as the output passes ``limit``,
    ``ValueError`` for a payload that is not valid for its codec (a truncated gzip or lz4
    stream included; a truncated zstd frame yields what it holds, which the records then
    judge), and ``KafkaConfigurationError`` naming the package a codec needs if it is missing.
    """
    try:
        decompress = _BOUNDED[name]
    except KeyError:
        raise ValueError(f"no codec called {name!r}") from None
    try:
        return decompress(memoryview(data), limit)
    except (DecompressedTooLarge, KafkaConfigurationError):
        raise
    except Exception as exc:  # noqa: BLE001 - each package raises its own types for bad input
        raise ValueError(f"{name} payload does not decompress: {exc}") from None


def _grown(out: bytearray, chunk: bytes, limit: int) -> None:
    out += chunk
    if len(out) > limit:
        raise DecompressedTooLarge(f"the records expand to more than {limit} bytes")


def _gunzip(data: memoryview, limit: int) -> bytes:
    out = bytearray()
    rest = bytes(data)
    while rest:
        member = zlib.decompressobj(31)  # one gzip member; Kafka's clients write one
        chunk = rest
        while not member.eof:
            got = member.decompress(chunk, min(_READ, limit + 1 - len(out)))
            if not got and not chunk:
                raise ValueError("the gzip stream ends before its end-of-stream marker")
            _grown(out, got, limit)
            chunk = member.unconsumed_tail
        rest = member.unused_data.lstrip(b"\x00")  # gzip allows zero padding after a member
    return bytes(out)


def _unlz4(data: memoryview, limit: int) -> bytes:
    frame = _import("lz4.frame")
    if frame is None:
        raise KafkaConfigurationError("lz4 batches need the lz4 package on the broker")
    out = bytearray()
    rest = bytes(data)
    while rest:
        decompressor = frame.LZ4FrameDecompressor()
        _grown(out, decompressor.decompress(rest, max_length=min(_READ, limit + 1 - len(out))),
               limit)
        while not decompressor.eof and not decompressor.needs_input:
            _grown(out, decompressor.decompress(b"", max_length=min(_READ, limit + 1 - len(out))),
                   limit)
        if not decompressor.eof:
            raise ValueError("the lz4 frame ends before its end mark")
        rest = decompressor.unused_data
    return bytes(out)


def _unzstd(data: memoryview, limit: int) -> bytes:
    zstandard = _import("zstandard")
    if zstandard is None:
        raise KafkaConfigurationError("zstd batches need the zstandard package on the broker")
    out = bytearray()
    reader = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).stream_reader(
        bytes(data), read_across_frames=True)
    while chunk := reader.read(min(_READ, limit + 1 - len(out))):
        _grown(out, chunk, limit)
    return bytes(out)


def _unsnappy(data: memoryview, limit: int) -> bytes:
    # Raw snappy starts with its uncompressed length: checked before anything is decompressed.
    cramjam = _import("cramjam")
    snappy = None if cramjam is not None else _import("snappy")
    if cramjam is None and snappy is None:
        raise KafkaConfigurationError("snappy batches need the cramjam (or python-snappy) "
                                      "package on the broker")
    blocks = [data]
    if len(data) > 16 and data[:8] == _XERIAL_HEADER:
        blocks, cursor = [], 16
        while cursor < len(data):
            (size,) = struct.unpack_from(">i", data, cursor)
            if size < 0 or cursor + 4 + size > len(data):
                raise ValueError("a snappy block runs past the payload")
            blocks.append(data[cursor + 4:cursor + 4 + size])
            cursor += 4 + size
    out = bytearray()
    for block in blocks:
        if len(out) + _varint(block) > limit:
            raise DecompressedTooLarge(f"the records expand to more than {limit} bytes")
        raw = bytes(block)
        _grown(out, bytes(cramjam.snappy.decompress_raw(raw)) if cramjam is not None
               else snappy.decompress(raw), limit)
    return bytes(out)


def _varint(data: memoryview) -> int:
    """The unsigned varint ``data`` starts with (raw snappy's uncompressed length)."""
    value = shift = 0
    for byte in data[:5]:
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7
    raise ValueError("a snappy block does not start with its length")


_BOUNDED = {"gzip": _gunzip, "snappy": _unsnappy, "lz4": _unlz4, "zstd": _unzstd}


# --- the records of one batch as bytes -------------------------------------------------------

# timestamp, key length, value length, headers, whether a timestamp was given (0: append time)
_RECORD = struct.Struct(">qiiHB")
_HEADER = struct.Struct(">Hi")  # header key length, header value length (-1: a null value)


def record_size(key: bytes | None, value: bytes | None, headers: Sequence[tuple]) -> int:
    """Bytes of a record's key, value and headers, as the producer counts them (a null
    header value counts none)."""
    size = (len(key) if key else 0) + (len(value) if value else 0)
    for hkey, hvalue in headers:
        size += len(hkey.encode("utf-8")) + (len(hvalue) if hvalue else 0)
    return size


def encode_records(records: Sequence[tuple]) -> bytes:
    """Encode ``(key, value, headers, timestamp_ms | None)`` tuples as one byte string."""
    parts: list[bytes] = []
    for key, value, headers, timestamp in records:
        parts.append(_RECORD.pack(
            -1 if timestamp is None else timestamp, -1 if key is None else len(key),
            -1 if value is None else len(value), len(headers), timestamp is not None,
        ))
        if key:
            parts.append(key)
        if value:
            parts.append(value)
        for hkey, hvalue in headers:
            encoded = hkey.encode("utf-8")
            parts.append(_HEADER.pack(len(encoded), -1 if hvalue is None else len(hvalue)))
            parts.append(encoded)
            if hvalue:
                parts.append(hvalue)
    return b"".join(parts)


def decode_records(data: bytes) -> list[tuple]:
    """The inverse of :func:`encode_records`."""
    records: list[tuple] = []
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        timestamp, klen, vlen, nheaders, timed = _RECORD.unpack_from(data, pos)
        pos += _RECORD.size
        key = None if klen < 0 else bytes(view[pos : pos + klen])
        pos += max(klen, 0)
        value = None if vlen < 0 else bytes(view[pos : pos + vlen])
        pos += max(vlen, 0)
        headers = []
        for _ in range(nheaders):
            hklen, hvlen = _HEADER.unpack_from(data, pos)
            pos += _HEADER.size
            hkey = bytes(view[pos : pos + hklen]).decode("utf-8")
            pos += hklen
            headers.append((hkey, None if hvlen < 0 else bytes(view[pos : pos + hvlen])))
            pos += max(hvlen, 0)
        records.append((key, value, tuple(headers), timestamp if timed else None))
    return records


class CompressedBatch:
    """The records of one append, kept only as compressed bytes.

    Built by :meth:`build` outside any lock; the log sets ``base_offset`` and ``append_time``
    when it appends the batch, ``log_append_time`` on a topic that stamps every record with
    that time, and ``max_timestamp``, the largest timestamp of its records (Kafka's batch
    ``maxTimestamp``: retention ages the batch by it). ``stored_size`` is the compressed size,
    ``uncompressed_size`` the bytes of keys, values and headers it holds. ``wire`` is the
    batch as Kafka's listener sends it (record format v2, compressed with the same codec),
    kept by the first fetch that sends it whole, so that later ones do not compress it again.
    """

    __slots__ = ("append_time", "base_offset", "codec", "count", "data", "log_append_time",
                 "max_timestamp", "uncompressed_size", "wire")

    def __init__(self, codec: Codec, data: bytes, count: int, uncompressed_size: int) -> None:
        self.codec = codec
        self.data = data
        self.count = count
        self.uncompressed_size = uncompressed_size
        self.base_offset = -1
        self.append_time = -1
        self.log_append_time = False
        self.max_timestamp = -1
        self.wire: bytes | None = None

    @classmethod
    def build(cls, codec: Codec, records: Sequence[tuple]) -> CompressedBatch:
        """Encode and compress validated ``(key, value, headers, timestamp_ms)`` records."""
        size = sum(record_size(k, v, h) for k, v, h, _ in records)
        return cls(codec, codec.compress(encode_records(records)), len(records), size)

    @property
    def stored_size(self) -> int:
        """Bytes the batch takes in the log."""
        return len(self.data)

    def decode(self) -> list[tuple]:
        """``(offset, timestamp, timestamp_type, key, value, headers)`` of every record."""
        out = []
        for i, (key, value, headers, ts) in enumerate(decode_records(self.codec.decompress(
            self.data
        ))):
            if ts is None or self.log_append_time:
                out.append((self.base_offset + i, self.append_time, 1, key, value, headers))
            else:
                out.append((self.base_offset + i, ts, 0, key, value, headers))
        return out

    def __repr__(self) -> str:
        return (f"<CompressedBatch {self.codec.name} base={self.base_offset} n={self.count} "
                f"{self.stored_size}/{self.uncompressed_size} bytes>")
