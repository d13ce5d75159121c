#!/usr/bin/env python3
"""kat-envelope.py: derives the known-answer vectors of the nmo-signal wire
format (proto/PROTOCOL.md, "Test vectors") independently of the C code.

The C tests (tests/unit/test-envelope.c, test-receipt.c, test-keys.c) embed the
hex this script prints; they never run Python. Run it again after changing the
vector, and paste its output into the tests and PROTOCOL.md:

    python3 tests/unit/kat-envelope.py    # needs PyNaCl (Debian: python3-nacl)

How the vector is derived:
  - every key pair comes from a fixed 32-byte seed: X25519 pairs with
    libsodium's crypto_box_seed_keypair (PyNaCl PrivateKey.from_seed), the hub's
    Ed25519 pair with crypto_sign_seed_keypair (PyNaCl SigningKey);
  - the Signal is serialised here by hand, field by field in field-number order
    (what protobuf-c emits), not with a protobuf library, so the C encoder is
    checked against the .proto text rather than against itself;
  - the box is nacl.public.Box(member payload sk, hub payload pk)
    .encrypt(plaintext, nonce).ciphertext, which is crypto_box_easy
    (X25519 + XSalsa20-Poly1305): 16-byte Poly1305 tag, then the ciphertext;
  - hub_key_id is BLAKE2b-256(hub payload pk)[0:8]; the envelope is hand-encoded;
  - the receipt signature is Ed25519 (deterministic) over
    b"nmo-signal receipt v1" + b"\\x00" + serialised ReceiptBody;
  - fingerprints are BLAKE2b with a 10-byte output (not a truncated hash) over
    b"nmo-signal fingerprint v1", the role byte (1 member, 2 hub) and the keys.
"""
import base64
import hashlib

import nacl.public
import nacl.signing


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


def f_varint(field, value):
    return varint(field << 3 | 0) + varint(value)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return varint(field << 3 | 2) + varint(len(data)) + data


def x25519_from_seed(seed):
    sk = nacl.public.PrivateKey.from_seed(seed)
    return bytes(sk.public_key), sk


def fingerprint(role, transport, payload, sign=b""):
    h = hashlib.blake2b(b"nmo-signal fingerprint v1" + bytes([role]) + transport + payload + sign,
                        digest_size=10).hexdigest()
    return "-".join(h[i:i + 4] for i in range(0, 20, 4))


def b64(b):
    return base64.b64encode(b).decode()


# Seeds and the fixed inputs.
MEMBER_TRANSPORT_SEED = bytes([0x01]) * 32
MEMBER_PAYLOAD_SEED = bytes([0x02]) * 32
HUB_TRANSPORT_SEED = bytes([0x03]) * 32
HUB_PAYLOAD_SEED = bytes([0x04]) * 32
HUB_SIGN_SEED = bytes([0x05]) * 32
NONCE = bytes(range(0x20, 0x38))
SIGNAL_ID = bytes(range(0x00, 0x10))
CREATED_MS = 1735689600000          # 2025-01-01T00:00:00Z
NOTE = "Supplier allocates 60 % of contract volume until further notice."

member_tpk, _ = x25519_from_seed(MEMBER_TRANSPORT_SEED)
member_ppk, member_psk = x25519_from_seed(MEMBER_PAYLOAD_SEED)
hub_tpk, _ = x25519_from_seed(HUB_TRANSPORT_SEED)
hub_ppk, hub_psk = x25519_from_seed(HUB_PAYLOAD_SEED)
hub_signer = nacl.signing.SigningKey(HUB_SIGN_SEED)
hub_spk = bytes(hub_signer.verify_key)

# Signal (proto/signal.proto), as `nmo-node submit` would fill it:
# material gallium, event export-licensing, severity high, status in-effect,
# country CN, stage processing, start 2024-12-01, 180 days, impact confirmed,
# share 25-50, 12 t/y, confidence high, source supplier-notice, a note, consent.
plaintext = b"".join([
    f_varint(1, 1),                  # version
    f_bytes(2, SIGNAL_ID),           # id
    f_varint(3, CREATED_MS),         # created_ms
    f_bytes(4, "gallium"),           # material
    f_bytes(5, "export-licensing"),  # event
    f_varint(6, 3),                  # severity = SEVERITY_HIGH
    f_varint(7, 3),                  # status = EVENT_STATUS_IN_EFFECT
    f_bytes(8, "CN"),                # country
    f_varint(9, 2),                  # stage = STAGE_PROCESSING
    f_bytes(10, "2024-12-01"),       # start_date
    f_varint(11, 180),               # duration_days
    f_varint(12, 3),                 # impact = IMPACT_CONFIRMED
    f_varint(13, 3),                 # share = SHARE_25_50
    f_varint(14, 12),                # volume_t
    f_varint(15, 3),                 # confidence = CONFIDENCE_HIGH
    f_varint(16, 2),                 # source = SOURCE_SUPPLIER_NOTICE
    f_bytes(17, NOTE),               # note
    f_varint(18, 1),                 # note_consent = NOTE_CONSENT_MAY_BE_SHARED
])

box = nacl.public.Box(member_psk, nacl.public.PublicKey(hub_ppk)).encrypt(plaintext, NONCE)
assert bytes(box.nonce) == NONCE
box = bytes(box.ciphertext)          # tag (16) || ciphertext, as crypto_box_easy
hub_key_id = hashlib.blake2b(hub_ppk, digest_size=32).digest()[:8]

envelope = b"".join([
    f_varint(1, 1),                  # version
    f_bytes(2, SIGNAL_ID),           # signal_id
    f_bytes(3, member_ppk),          # sender
    f_bytes(4, hub_key_id),          # hub_key_id
    f_bytes(5, NONCE),               # nonce
    f_bytes(6, box),                 # box
])
envelope_hash = hashlib.blake2b(envelope, digest_size=32).digest()

# The receipt the hub would sign for it (accepted, store sequence 1).
HUB_TIME_MS = 1735689601234
body = b"".join([
    f_varint(1, 1),                  # version
    f_bytes(2, SIGNAL_ID),           # signal_id
    f_varint(3, 1),                  # status = RECEIPT_ACCEPTED
    f_varint(4, 0),                  # reason = REASON_NONE (always written)
    f_varint(6, HUB_TIME_MS),        # hub_time_ms (detail, field 5, is empty: omitted)
    f_bytes(7, envelope_hash),       # envelope_hash
    f_bytes(8, member_ppk),          # member_key
    f_varint(9, 1),                  # sequence
])
signature = hub_signer.sign(b"nmo-signal receipt v1\x00" + body).signature
signed_receipt = f_bytes(1, body) + f_bytes(2, signature)
reply = f_varint(1, 1) + f_varint(2, 0) + f_bytes(3, signed_receipt)

for name, value in [
    ("member transport public", member_tpk),
    ("member payload public", member_ppk),
    ("member payload secret", bytes(member_psk)),
    ("hub transport public", hub_tpk),
    ("hub payload public", hub_ppk),
    ("hub sign public", hub_spk),
    ("hub key id", hub_key_id),
    ("nonce", NONCE),
    ("plaintext", plaintext),
    ("box", box),
    ("envelope", envelope),
    ("envelope hash", envelope_hash),
    ("receipt body", body),
    ("receipt signature", signature),
    ("signed receipt", signed_receipt),
    ("reply", reply),
]:
    print(f"{name} ({len(value)} bytes):\n  {value.hex()}")
print("member fingerprint:", fingerprint(1, member_tpk, member_ppk))
print("hub fingerprint:", fingerprint(2, hub_tpk, hub_ppk, hub_spk))
print("hub public bundle (name kat-hub):")
print("\n".join([
    "nmo-signal key v1",
    "# nmo-signal hub public key bundle. Safe to send; check the fingerprint by phone.",
    "role: hub",
    "kind: public",
    "name: kat-hub",
    "transport-public: " + b64(hub_tpk),
    "payload-public: " + b64(hub_ppk),
    "sign-public: " + b64(hub_spk),
    "fingerprint: " + fingerprint(2, hub_tpk, hub_ppk, hub_spk),
]))
