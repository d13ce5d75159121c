#!/usr/bin/env python3
"""kat-alert.py: derives the alert feed test vector of proto/PROTOCOL.md
(section 14) without the C code: the AlertBody protobuf encoding written out
by hand, Ed25519 from Python's `cryptography` package.

Checked by tests/unit/test-node-alerts.c. Run: python3 tests/unit/kat-alert.py
"""
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

HUB_SIGN_SEED = bytes([5] * 32)     # the hub sign seed of section 13.1
CONTEXT = b"nmo-signal alert v1"


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3 | 0) + varint(v)


def field_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def field_double(num, d):
    return varint(num << 3 | 1) + struct.pack("<d", d)


body = b"".join([
    field_varint(1, 1),                                         # version
    field_bytes(2, b"00112233445566778899aabbccddeeff"),        # id
    field_varint(3, 2),                                         # revision
    field_bytes(4, b"surge"),                                   # rule
    field_bytes(5, b"gallium"),                                 # material
    field_bytes(6, b"export-licensing"),                        # event
    field_bytes(7, b"critical"),                                # level
    field_bytes(8, b"2026-W48"),                                # period
    field_bytes(9, b"2026-W40"),                                # window_start
    field_bytes(10, b"2026-W48"),                               # window_end
    field_bytes(11, b"2026-11-27"),                             # issued
    field_bytes(12, b"Gallium export licensing reports rose above their baseline."),
    field_varint(13, 5),                                        # reporters
    field_varint(14, 12),                                       # reports
    field_double(15, 3.5),                                      # baseline
])

key = Ed25519PrivateKey.from_private_bytes(HUB_SIGN_SEED)
pk = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
sig = key.sign(CONTEXT + b"\x00" + body)
signed = field_bytes(1, body) + field_bytes(2, sig)

print("hub sign public key:", pk.hex())
print("AlertBody (%d bytes):" % len(body), body.hex())
print("signature:", sig.hex())
print("SignedAlert (%d bytes):" % len(signed), signed.hex())
