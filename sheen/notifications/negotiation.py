"""The locale of a notification: the `x-sheen-locale` header or the `locale` field, negotiated.

Babel's `negotiate_locale` picks the best of the supported languages for what the main
application sent (`es-MX` -> `es`, `fr_CA` -> `fr`, a list with q-values too); anything
unknown, empty or malformed gives English. Negotiation never raises.
"""

from __future__ import annotations

import re

from babel import negotiate_locale

SUPPORTED = ("en", "es", "fr")
DEFAULT = "en"
MAX_INPUT = 200  # an Accept-Language-like value longer than this is not a locale
_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def _preferred(raw: str) -> list[str]:
    """The tags of `raw`, best first: `fr-CA, fr;q=0.8, en;q=0.5` -> [fr-CA, fr, en]."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(raw.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().replace("_", "-")
        if not _TAG.match(tag):
            continue
        quality = 1.0
        match = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and match is None:
            continue
        if match:
            quality = float(match.group(1))
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(*candidates: str | None) -> str:
    """The first candidate that negotiates to a supported locale, else English."""
    for raw in candidates:
        if not isinstance(raw, str) or not raw or len(raw) > MAX_INPUT:
            continue
        found = negotiate_locale(_preferred(raw), SUPPORTED, sep="-")
        if found and found.lower() in SUPPORTED:  # Babel returns the caller's spelling (FR)
            return found.lower()
    return DEFAULT
