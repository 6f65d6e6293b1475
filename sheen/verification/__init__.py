"""Site-migration verification: signed manifests checked against what a site serves.

`manifest` (canonical bytes), `signing` (Ed25519, key ids), `fetcher` (httpx, one
total deadline per fetch), `fingerprint` (the database schema), `store` (the
append-only tables), `service.verify` (the order of checks and the policy).
"""

from sheen.verification.manifest import Manifest, build_manifest, canonical_bytes, parse_canonical
from sheen.verification.refusals import ManifestRefused, Reason
from sheen.verification.service import RunReport, VerificationRequest, run_id_for, verify

__all__ = [
    "Manifest",
    "ManifestRefused",
    "Reason",
    "RunReport",
    "VerificationRequest",
    "build_manifest",
    "canonical_bytes",
    "parse_canonical",
    "run_id_for",
    "verify",
]
