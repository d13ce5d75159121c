#!/usr/bin/env python3
"""kat-receipt-batch.py: derives the known-answer vector of the batch form of
signed receipts (proto/PROTOCOL.md 8.1 and 13.5) independently of the C code.

tests/unit/test-receipt.c embeds the hex this script prints; it never runs
Python. Run it again after changing the vector:

    python3 tests/unit/kat-receipt-batch.py   # needs python3-cryptography

How the vector is derived:
  - the hub's Ed25519 key pair comes from the 32-byte seed 05 05 ... 05, as in
    kat-envelope.py (RFC 8032 key generation from a seed);
  - three ReceiptBody messages: the body of vector 13.4 with sequence 1, 2, 3
    (its last field, 48 01, becomes 48 02 and 48 03);
  - leaf = BLAKE2b-256(00 || body), node = BLAKE2b-256(01 || left || right),
    the tree of RFC 9162 2.1.1 over the leaves in order, computed here
    recursively from that definition (the C code builds it level by level);
  - signature = Ed25519 over b"nmo-signal receipt batch v1" + 00 +
    tree_size (4 bytes, big-endian) + root;
  - the SignedReceipt of leaf 2 and its Reply are encoded here by hand, field
    by field in field-number order (what protobuf-c emits).
"""
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BODY_13_4 = bytes.fromhex(
    "08011210000102030405060708090a0b0c0d0e0f1801200030d281a6f9c1323a2073469b7727356d70"
    "b36d713c5d1e6f727cf5791d67c0d8825e65452cb2ed6ca2422060346e7c911a5f6ba154129174cafe"
    "75b294ac3bbd5549632f48cec6266f84104801")


def h(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def leaf(body):
    return h(b"\x00" + body)


def mth(leaves):
    """RFC 9162 2.1.1: the Merkle tree hash of a list of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return h(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m, leaves):
    """RFC 9162 2.1.3.1: the inclusion path of leaf m, leaf upwards."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


sk = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
bodies = [BODY_13_4[:-1] + bytes([s]) for s in (1, 2, 3)]
leaves = [leaf(b) for b in bodies]
root = mth(leaves)
size = len(bodies)
msg = b"nmo-signal receipt batch v1\x00" + size.to_bytes(4, "big") + root
sig = sk.sign(msg)
idx = 2
p = b"".join(path(idx, leaves))
signed = (field_bytes(1, bodies[idx]) + field_bytes(2, sig) + field_varint(3, size) +
          field_varint(4, idx) + field_bytes(5, p))
reply = field_varint(1, 1) + field_varint(2, 0) + field_bytes(3, signed)

print("hub sign-public      ", pk.hex())
for i, b in enumerate(bodies):
    print("body %d               " % i, b.hex())
print("root                 ", root.hex())
print("batch signature      ", sig.hex())
print("path of leaf 2       ", p.hex())
print("SignedReceipt leaf 2 ", signed.hex())
print("Reply leaf 2         ", reply.hex())
