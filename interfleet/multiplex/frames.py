"""The wire format of `WorkerInference.Infer`, written by hand where the payload is large.

A request frame wraps the client's serialized ModelInferRequest, and a reply the worker's
serialized ModelInferResponse, without parsing or re-encoding either: the encoders below emit
the bytes protobuf would (tests check them against the generated classes), so a 49 KB tensor is
copied once on its way into a frame instead of being decoded and encoded again. The entries of
one message are simply concatenated (a repeated field on the wire), which is how a writer sends
every frame that is ready in one gRPC message. On a plain byte stream the entries follow each
other the same way, each carrying its own length (`whole_entries`). Decoding uses the generated
classes.
"""

from __future__ import annotations

import struct

from interfleet.proto import fleet_pb2

# Field keys: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
_ENTRY = b"\x0a"  # InferFrames.frames / InferReplies.replies: field 1, length-delimited
_TAG = b"\x08"  # InferFrame.tag / InferReply.tag: field 1, varint
_PAYLOAD = b"\x12"  # InferFrame.request / InferReply.response: field 2, length-delimited
_TIMEOUT = b"\x19"  # InferFrame.timeout_s: field 3, fixed64 (double)
_CANCEL = b"\x20\x01"  # InferFrame.cancel = true: field 4, varint


# Several frames share a message up to this size; a frame larger than it travels alone.
JOIN_LIMIT_BYTES = 4 * 1024 * 1024


def varint(value: int) -> bytes:
    """Protobuf's base-128 encoding of a non-negative integer."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _entry(tag: int, payload: bytes, trailer: bytes = b"") -> bytes:
    head = _TAG + varint(tag)
    if payload:
        head += _PAYLOAD + varint(len(payload))
    return b"".join((_ENTRY, varint(len(head) + len(payload) + len(trailer)), head, payload, trailer))


def request_frame(tag: int, request: bytes, timeout_s: float | None) -> bytes:
    """An InferFrames entry carrying serialized ModelInferRequest `request`."""
    return _entry(tag, request, _TIMEOUT + struct.pack("<d", timeout_s) if timeout_s else b"")


def cancel_frame(tag: int) -> bytes:
    """An InferFrames entry telling the worker to stop request `tag`."""
    return _entry(tag, b"", _CANCEL)


def reply(tag: int, response: bytes) -> bytes:
    """An InferReplies entry carrying serialized ModelInferResponse `response` (status OK)."""
    return _entry(tag, response)


def error_reply(tag: int, code: int, message: str) -> bytes:
    """An InferReplies entry saying request `tag` failed with gRPC status `code`."""
    body = fleet_pb2.InferReply(tag=tag, code=code, message=message).SerializeToString()
    return _ENTRY + varint(len(body)) + body


def take(entries: list[bytes], limit: int = JOIN_LIMIT_BYTES) -> tuple[list[bytes], list[bytes]]:
    """The entries that go in the next message (at least one; more while they fit in `limit`
    bytes), and the rest. The bound lets a worker cap its messages by its own models' largest
    request rather than by everything a router could pile into one message."""
    if len(entries) == 1:
        return entries, []
    size = len(entries[0])
    count = 1
    while count < len(entries) and size + len(entries[count]) <= limit:
        size += len(entries[count])
        count += 1
    return entries[:count], entries[count:]


def join(entries: list[bytes]) -> bytes:
    """One message of the stream from entries (a repeated field is its entries in a row)."""
    return entries[0] if len(entries) == 1 else b"".join(entries)


def whole_entries(buffer: bytes | bytearray, limit: int) -> int:
    """How many bytes at the start of `buffer` are whole entries: what a reader of a byte stream
    (`interfleet.multiplex.sockets`) can parse now, the rest waiting for more bytes. Raises
    ValueError for bytes that cannot start an entry, or an entry declared larger than `limit`."""
    end, size = 0, len(buffer)
    while end < size:
        if buffer[end] != _ENTRY[0]:
            raise ValueError(f"byte {buffer[end]:#04x} at offset {end} does not start an entry")
        cursor, shift, length = end + 1, 0, 0
        while True:
            if cursor >= size:
                return end
            byte = buffer[cursor]
            cursor += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 63:
                raise ValueError(f"the entry at offset {end} has a malformed length")
        if length > limit:
            raise ValueError(f"an entry of {length} bytes is larger than the {limit} this reader accepts")
        if cursor + length > size:
            return end
        end = cursor + length
    return end


def parse_frames(message: bytes) -> list[fleet_pb2.InferFrame]:
    return list(fleet_pb2.InferFrames.FromString(message).frames)


def parse_replies(message: bytes) -> list[fleet_pb2.InferReply]:
    return list(fleet_pb2.InferReplies.FromString(message).replies)
