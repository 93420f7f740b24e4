"""The packet's envelope: signed by the sending centre, encrypted for the receiving one.

Layout of a packet file (all of it is needed; nothing else is in it)::

    b"RISKMODEL-HANDOVER\\n"  magic, 19 bytes
    4 bytes                   length of the header, big-endian
    header                    canonical JSON (sorted keys, UTF-8): format, version, packet_id, created,
                              sender and recipient fingerprints, the recipient's X25519 public key,
                              the ephemeral X25519 public key, the AES-GCM nonce
    ciphertext                AES-256-GCM(key, nonce, signature || payload, associated data = header)

* **Encryption** (ECIES): an ephemeral X25519 key agreed with the recipient's X25519 key; the shared
  secret goes through HKDF-SHA256 (info binds the ephemeral and recipient keys) to a 256-bit AES-GCM
  key. The header is the associated data: a changed byte anywhere (header or ciphertext) or a
  truncated file fails authentication, and nothing is decrypted.
* **Signature**: Ed25519 by the sender over ``domain || header || payload``. The header names the
  recipient, so the signature binds the recipient: a recipient cannot re-encrypt a packet it received
  to a third centre as if the sender had sent it there (the third centre finds itself not named).
  The signature lies inside the ciphertext, so it cannot be stripped or swapped without the
  recipient's private key, and a recipient verifies it before reading any record.

All of it from pyca/cryptography (Ed25519, X25519, HKDF, AESGCM); no algorithm is written here.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from riskmodel.handover.keys import CentreKeys, CentrePublic, HandoverError

__all__ = ["MAGIC", "Opened", "open_packet", "read_header", "seal"]

MAGIC = b"RISKMODEL-HANDOVER\n"
FORMAT = "riskmodel-handover"
_SIGN_DOMAIN = b"riskmodel-handover/1 signature\0"
_KDF_INFO = b"riskmodel-handover/1 aes-256-gcm\0"
_SIGNATURE_BYTES = 64
_MAX_HEADER = 16 * 1024


@dataclass(frozen=True)
class Opened:
    """A packet decrypted and verified: its header and payload bytes."""

    header: dict
    payload: bytes


def _canonical(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_KDF_INFO + ephemeral + recipient).derive(shared)


def seal(payload: bytes, *, sender: CentreKeys, recipient: CentrePublic, packet_id: str, created: str) -> bytes:
    """The packet file's bytes: ``payload`` signed by ``sender`` and encrypted for ``recipient``."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    nonce = os.urandom(12)
    header = {"format": FORMAT, "version": 1, "packet_id": packet_id, "created": created,
              "sender": sender.fingerprint, "recipient": recipient.fingerprint,
              "recipient_x25519": base64.b64encode(recipient.x25519_raw).decode("ascii"),
              "ephemeral_x25519": base64.b64encode(ephemeral_raw).decode("ascii"),
              "nonce": base64.b64encode(nonce).decode("ascii"), "cipher": "X25519-HKDF-SHA256-AES-256-GCM",
              "signature": "Ed25519"}
    header_bytes = _canonical(header)
    signature = sender.ed25519.sign(_SIGN_DOMAIN + struct.pack(">I", len(header_bytes)) + header_bytes + payload)
    key = _key(ephemeral.exchange(recipient.x25519), ephemeral_raw, recipient.x25519_raw)
    ciphertext = AESGCM(key).encrypt(nonce, signature + payload, header_bytes)
    return MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes + ciphertext


def read_header(data: bytes, *, source: str) -> tuple[dict, bytes, bytes]:
    """``(header, header bytes, ciphertext)`` of a packet file's bytes, or a clear refusal."""
    if not data.startswith(MAGIC):
        raise HandoverError(f"{source}: not a riskmodel handover packet (no packet header); nothing imported.")
    offset = len(MAGIC)
    if len(data) < offset + 4:
        raise HandoverError(f"{source}: the packet is truncated (no header length); nothing imported. Ask the "
                            "sending centre for the file again.")
    (length,) = struct.unpack(">I", data[offset:offset + 4])
    header_bytes = data[offset + 4:offset + 4 + length]
    if length > _MAX_HEADER or len(header_bytes) != length:
        raise HandoverError(f"{source}: the packet is truncated or damaged (header of {length} bytes); nothing "
                            "imported. Ask the sending centre for the file again.")
    try:
        header = json.loads(header_bytes.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HandoverError(f"{source}: the packet's header is damaged; nothing imported. Ask the sending centre for "
                            "the file again.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != 1:
        raise HandoverError(f"{source}: a packet format this riskmodel does not read; nothing imported.")
    return header, header_bytes, data[offset + 4 + length:]


def open_packet(data: bytes, *, own: CentreKeys, sender: CentrePublic, source: str) -> Opened:
    """Check the recipient and the sender, decrypt, verify the signature; refuse anything else.

    Raises
    ------
    HandoverError
        Not a packet, truncated, tampered with, for another centre, or from a sender other than
        ``sender``: one line saying which; nothing is returned.
    """
    header, header_bytes, ciphertext = read_header(data, source=source)
    if header.get("recipient") != own.fingerprint:
        raise HandoverError(f"{source}: the packet is for another centre (recipient {header.get('recipient')}, this "
                            f"centre is {own.fingerprint}); nothing imported.")
    if header.get("sender") != sender.fingerprint:
        raise HandoverError(f"{source}: the packet was sent by centre {header.get('sender')}, not by the holder of the "
                            f"--from key ({sender.fingerprint}); nothing imported. Check the sender's key.")
    try:
        ephemeral_raw = base64.b64decode(header["ephemeral_x25519"], validate=True)
        nonce = base64.b64decode(header["nonce"], validate=True)
        key = _key(own.x25519.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw)), ephemeral_raw,
                   own.public.x25519_raw)
        plain = AESGCM(key).decrypt(nonce, ciphertext, header_bytes)
    except (InvalidTag, KeyError, ValueError, TypeError):
        raise HandoverError(f"{source}: the packet fails its integrity check (changed or truncated on the way); "
                            "nothing imported. Ask the sending centre for the file again.") from None
    signature, payload = plain[:_SIGNATURE_BYTES], plain[_SIGNATURE_BYTES:]
    try:
        sender.ed25519.verify(signature, _SIGN_DOMAIN + struct.pack(">I", len(header_bytes)) + header_bytes + payload)
    except InvalidSignature:
        raise HandoverError(f"{source}: the sender's signature does not verify (not signed by {sender.fingerprint}); "
                            "nothing imported.") from None
    return Opened(header=header, payload=payload)
