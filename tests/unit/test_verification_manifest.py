"""Manifests and their signatures, without a network or a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sheen.errors import ConfigError
from sheen.verification import ManifestRefused, Reason, build_manifest, parse_canonical
from sheen.verification.signing import KeyRing
from tests.verification_support import COMMIT, Signer, make_tree

FINGERPRINT = "ab" * 32


def _manifest(tmp_path, **overrides) -> bytes:
    options = {
        "domain": "example.test",
        "commit": COMMIT,
        "environment": "ci",
        "base_url": "https://example.test/app",
        "version": 3,
        "schema_fingerprint": FINGERPRINT,
        "now": datetime(2026, 12, 3, 10, 0, tzinfo=UTC),
    }
    options.update(overrides)
    return build_manifest(make_tree(tmp_path / "site", count=3), **options)


def test_build_is_canonical_and_describes_every_file(tmp_path):
    """The built manifest parses back, byte-identical to its canonical form, one entry per file."""
    # Given a tree of three files
    raw = _manifest(tmp_path)
    # When it is parsed
    manifest = parse_canonical(raw)
    # Then every file is listed with its URL under the base, and the times are as issued
    assert [f.path for f in manifest.files] == [
        "assets/file00001.txt",
        "pages/file00000.txt",
        "pages/file00002.txt",
    ]
    assert manifest.files[0].url == "https://example.test/app/assets/file00001.txt"
    assert manifest.expires_at - manifest.issued_at == timedelta(days=7)
    assert b" " not in raw and raw == _manifest(tmp_path)  # deterministic


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw.replace(b'":', b'": ', 1),  # whitespace
        lambda raw: json.dumps(json.loads(raw)).encode(),  # not sorted separators
        lambda raw: raw.replace(b'"version":3', b'"version":3.0'),  # a float
        lambda raw: raw[:-1] + b',"domain":"evil.test"}',  # a duplicate key
        lambda raw: b"\xff" + raw,  # not UTF-8
    ],
)
def test_non_canonical_documents_are_refused(tmp_path, mutate):
    """Whitespace, floats, duplicate keys or bad UTF-8: refused as non_canonical."""
    with pytest.raises(ManifestRefused) as refused:
        parse_canonical(mutate(_manifest(tmp_path)))
    assert refused.value.reason is Reason.NON_CANONICAL


def test_an_unknown_field_or_bad_hash_is_invalid(tmp_path):
    """A canonical document with a field the format lacks, or a non-hex hash, is invalid_manifest."""
    from sheen.verification.manifest import canonical_bytes

    document = json.loads(_manifest(tmp_path))
    for change in ({"extra": 1}, {"schema_fingerprint": "XYZ"}, {"commit": "main"}):
        with pytest.raises(ManifestRefused) as refused:
            parse_canonical(canonical_bytes({**document, **change}))
        assert refused.value.reason is Reason.INVALID


def test_signatures_verify_only_with_the_signing_key(tmp_path):
    """A signature checks out with its key, names that key's id, and fails on any changed byte."""
    # Given a key ring with one key and a manifest signed by it
    signer = Signer()
    ring = KeyRing.parse(signer.public)
    raw = _manifest(tmp_path)
    signature = signer.sign(raw)
    # Then it verifies, and the key id is the one derived from the public key
    assert ring.verify(raw, signature) == json.loads(signature)["key_id"]
    # and one flipped byte, another key, a missing or malformed signature are refused
    with pytest.raises(ManifestRefused, match="bad_signature"):
        ring.verify(raw.replace(b'"version":3', b'"version":4'), signature)
    with pytest.raises(ManifestRefused, match="unknown_key_id"):
        ring.verify(raw, Signer().sign(raw))
    with pytest.raises(ManifestRefused, match="missing_signature"):
        ring.verify(raw, None)
    with pytest.raises(ManifestRefused, match="bad_signature"):
        ring.verify(raw, b"not json")


def test_a_key_id_cannot_be_borrowed(tmp_path):
    """A signature made by another key but claiming a configured key id is a bad signature."""
    signer, forger = Signer(), Signer()
    raw = _manifest(tmp_path)
    claimed = json.loads(signer.sign(raw))
    forged = json.loads(forger.sign(raw))
    forged["key_id"] = claimed["key_id"]
    with pytest.raises(ManifestRefused, match="bad_signature"):
        KeyRing.parse(signer.public).verify(raw, json.dumps(forged).encode())


def test_public_keys_setting_is_validated():
    """SHEEN_MANIFEST_PUBLIC_KEYS entries must be raw Ed25519 keys in base64 (else a ConfigError)."""
    assert KeyRing.parse("").keys == {}
    with pytest.raises(ConfigError, match="SHEEN_MANIFEST_PUBLIC_KEYS"):
        KeyRing.parse("bm90IGEga2V5")


def test_verification_results_outside_the_fixed_set_are_refused():
    """The run counter takes success, failure or refused only: a typo fails loudly."""
    from sheen.metrics import record_verification

    with pytest.raises(ValueError, match="unknown verification result"):
        record_verification("exploded")
