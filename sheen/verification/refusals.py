"""Why a manifest is refused before any file is fetched: one reason code per refusal."""

from __future__ import annotations

from enum import StrEnum

from sheen.errors import SheenError


class Reason(StrEnum):
    """Stable reason codes, recorded in the results table and logged."""

    # Refusals of the manifest itself (nothing fetched).
    OVERSIZED = "oversized_manifest"
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key_id"
    NON_CANONICAL = "non_canonical"
    INVALID = "invalid_manifest"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ENVIRONMENT = "wrong_environment"
    ROLLBACK = "rollback"
    # Outcomes of one file or of the schema.
    HASH_MISMATCH = "hash_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    TOO_LARGE = "too_large"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    REDIRECT_OTHER_HOST = "redirect_other_host"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    TLS = "tls_error"
    NETWORK = "network_error"
    SCHEMA_MISMATCH = "schema_mismatch"


class ManifestRefused(SheenError):
    """The manifest cannot be trusted or used; `reason` says why, `detail` says more."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
