"""Ed25519 detached signatures over manifest bytes, with key ids so keys can rotate.

A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key:
derived, never chosen, so a signature cannot claim a key it was not made with.
The verifying keys come from `SHEEN_MANIFEST_PUBLIC_KEYS` (comma-separated raw
public keys in base64); several may be listed at once during a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sheen.errors import ConfigError
from sheen.verification.refusals import ManifestRefused, Reason

ALGORITHM = "ed25519"
MAX_SIGNATURE_BYTES = 4096


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form `SHEEN_MANIFEST_PUBLIC_KEYS` takes: the raw key in base64."""
    return base64.b64encode(raw_public(key)).decode()


def generate(private_path: Path, public_path: Path) -> tuple[str, str]:
    """Write a new key pair (private PEM mode 0600, public base64); returns (key id, public)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(pem)
    public = public_key_text(private.public_key())
    public_path.write_text(public + "\n")
    return key_id(private.public_key()), public


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return key


def sign(manifest: bytes, private: Ed25519PrivateKey) -> bytes:
    """The detached signature document (JSON) for `manifest`'s exact bytes."""
    document = {
        "algorithm": ALGORITHM,
        "key_id": key_id(private.public_key()),
        "signature": base64.b64encode(private.sign(manifest)).decode(),
    }
    return json.dumps(document, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True)
class KeyRing:
    """The verifying keys by key id."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keys: dict[str, Ed25519PublicKey] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                raw = base64.b64decode(item, validate=True)
                key = Ed25519PublicKey.from_public_bytes(raw)
            except (binascii.Error, ValueError) as exc:
                raise ConfigError(
                    "SHEEN_MANIFEST_PUBLIC_KEYS: each entry must be a base64 raw Ed25519 public key"
                ) from exc
            keys[key_id(key)] = key
        return cls(keys)

    def verify(self, manifest: bytes, signature: bytes | None) -> str:
        """The key id that signed `manifest`, or ManifestRefused. Reads no manifest field."""
        if not signature:
            raise ManifestRefused(Reason.MISSING_SIGNATURE, "no signature given")
        if len(signature) > MAX_SIGNATURE_BYTES:
            raise ManifestRefused(Reason.BAD_SIGNATURE, "signature document too large")
        try:
            document = json.loads(signature)
            kid = str(document["key_id"])
            algorithm = document["algorithm"]
            value = base64.b64decode(str(document["signature"]), validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ManifestRefused(Reason.BAD_SIGNATURE, "malformed signature document") from exc
        if algorithm != ALGORITHM:
            raise ManifestRefused(Reason.BAD_SIGNATURE, f"algorithm {algorithm!r} not accepted")
        key = self.keys.get(kid)
        if key is None:
            raise ManifestRefused(Reason.UNKNOWN_KEY, f"key id {kid[:32]!r} is not configured")
        try:
            key.verify(value, manifest)
        except InvalidSignature as exc:
            raise ManifestRefused(
                Reason.BAD_SIGNATURE, f"signature does not match key {kid}"
            ) from exc
        return kid
