"""Compression of record batches: Kafka's four codecs, and the byte format they compress.

A producer with ``compression_type`` hands each batch to the broker as it is; the partition log
encodes the batch's records into bytes (:func:`encode_records`), compresses them once and keeps
only the compressed bytes, as Kafka keeps a compressed batch on disk. A fetch decompresses the
batch again. The saving shows in :class:`~pcmodel.topics.log.PartitionLog`'s byte counts.

``gzip`` is in the standard library and always available. ``snappy``, ``lz4`` and ``zstd`` need
a codec package: the ``compression`` extra installs them (``pip install 'pcmodel[compression]'``).
Asking for one that is missing is a ``KafkaConfigurationError`` naming the package.

The encoding is pcmodel's own (length-prefixed fields with :mod:`struct`), not Kafka's record
batch v2: storage is not a wire format here, and the Kafka protocol listener converts at its door.

Prior art: kafka-python's ``kafka/codec.py`` (which packages provide which codec, cramjam as the
fallback for all three) and Kafka's ``CompressionType``.
"""

from __future__ import annotations

import gzip
import importlib
import struct
from collections.abc import Callable, Sequence
from typing import NamedTuple

from pcmodel.topics.errors import KafkaConfigurationError

__all__ = ["CODEC_NAMES", "Codec", "decode_records", "encode_records", "get_codec"]

#: The values ``compression_type`` accepts (besides ``None``), as Kafka names them.
CODEC_NAMES = ("gzip", "snappy", "lz4", "zstd")


class Codec(NamedTuple):
    """One compression codec: its Kafka name and a pair of functions on bytes."""

    name: str
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]


def _gzip() -> Codec:
    # Level 6 is Kafka's default gzip level; mtime=0 keeps equal batches byte-for-byte equal.
    return Codec("gzip", lambda data: gzip.compress(data, 6, mtime=0), gzip.decompress)


def _import(module: str):  # noqa: ANN202 - a module or None
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _snappy() -> Codec | None:
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


def _lz4() -> Codec | None:
    frame = _import("lz4.frame")
    if frame is not None:
        return Codec("lz4", frame.compress, frame.decompress)
    cramjam = _import("cramjam")
    if cramjam is not None:
        return Codec(
            "lz4",
            lambda data: bytes(cramjam.lz4.compress(data)),
            lambda data: bytes(cramjam.lz4.decompress(data)),
        )
    return None


def _zstd() -> Codec | None:
    zstandard = _import("zstandard")
    if zstandard is not None:
        return Codec(
            "zstd",
            lambda data: zstandard.ZstdCompressor().compress(data),
            lambda data: zstandard.ZstdDecompressor().decompress(data),
        )
    cramjam = _import("cramjam")
    if cramjam is not None:
        return Codec(
            "zstd",
            lambda data: bytes(cramjam.zstd.compress(data)),
            lambda data: bytes(cramjam.zstd.decompress(data)),
        )
    return None


_FACTORIES = {"gzip": _gzip, "snappy": _snappy, "lz4": _lz4, "zstd": _zstd}
_PACKAGES = {"snappy": "cramjam (or python-snappy)", "lz4": "lz4 (or cramjam)",
             "zstd": "zstandard (or cramjam)"}
_cache: dict[str, Codec] = {}


def get_codec(name: str | None) -> Codec | None:
    """Return the codec called ``name`` (``None`` for no compression).

    Raises ``KafkaConfigurationError`` for a name Kafka does not have, or for a codec whose
    package is not installed (naming the package and the ``compression`` extra).
    """
    if name is None:
        return None
    if name not in _FACTORIES:
        raise KafkaConfigurationError(
            f"compression_type must be None or one of {', '.join(CODEC_NAMES)}, got {name!r}"
        )
    codec = _cache.get(name)
    if codec is None:
        codec = _FACTORIES[name]()
        if codec is None:
            raise KafkaConfigurationError(
                f"compression_type={name!r} needs the {_PACKAGES[name]} package: "
                "pip install 'pcmodel[compression]', or use compression_type='gzip'"
            )
        _cache[name] = codec
    return codec


# --- the records of one batch as bytes -------------------------------------------------------

_RECORD = struct.Struct(">qbiiH")  # timestamp, timestamp type, key length, value length, headers
_HEADER = struct.Struct(">HI")  # header key length, header value length


def encode_records(records: Sequence[tuple]) -> bytes:
    """Encode ``(timestamp, timestamp_type, key, value, headers)`` tuples as one byte string."""
    parts: list[bytes] = []
    for timestamp, timestamp_type, key, value, headers in records:
        parts.append(_RECORD.pack(
            timestamp, timestamp_type, -1 if key is None else len(key),
            -1 if value is None else len(value), len(headers),
        ))
        if key:
            parts.append(key)
        if value:
            parts.append(value)
        for hkey, hvalue in headers:
            encoded = hkey.encode("utf-8")
            parts.append(_HEADER.pack(len(encoded), len(hvalue)))
            parts.append(encoded)
            parts.append(hvalue)
    return b"".join(parts)


def decode_records(data: bytes) -> list[tuple]:
    """The inverse of :func:`encode_records`."""
    records: list[tuple] = []
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        timestamp, timestamp_type, klen, vlen, nheaders = _RECORD.unpack_from(data, pos)
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
            headers.append((hkey, bytes(view[pos : pos + hvlen])))
            pos += hvlen
        records.append((timestamp, timestamp_type, key, value, tuple(headers)))
    return records
