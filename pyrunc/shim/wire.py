"""Protobuf's wire format by hand, for the few messages encoded or decoded without the protobuf
package: the shim's clean-up answer and liveness probe (no protobuf import on containerd's `delete`
path), the descriptor set split before protobuf's pool takes it, and the tests' CRI client."""


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 travel as 10-byte two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def integer(field: int, value: int) -> bytes:
    """A varint field; proto3 leaves a zero out."""
    return varint(field << 3) + varint(value) if value else b""


def blob(field: int, value: bytes) -> bytes:
    """A length-delimited field (bytes, a string, a nested message), written even when empty."""
    return varint(field << 3 | 2) + varint(len(value)) + value


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at data[pos:] and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode(data: bytes) -> dict[int, list]:
    """Fields by number: ints for varints, bytes for length-delimited (nested messages stay bytes)
    and for fixed 64/32-bit values."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes
            value, pos = read_varint(data, pos)
        elif wire == 2:
            size, pos = read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(field, []).append(value)
    return fields
