"""Render a notification from the Babel catalogs: subject and plain-text body, per locale.

The compiled catalogs (`locale/<lang>/LC_MESSAGES/messages.mo`, built by `make install`
with `pybabel compile`) are loaded once per process. A checkout where they were not
compiled yet (or are older than their `.po`) still renders: the `.po` is compiled in
memory, and `catalog_compiled_in_memory` is logged once.

Only typed parameters reach the text (see `categories`): dates and numbers are formatted
for the locale by Babel, words come from the catalogs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import structlog
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from sheen.notifications.categories import (
    APPEAL,
    APPEAL_STATUS_WORDS,
    APPEALED_WORDS,
    CONTENT_KIND_WORDS,
    DAYS,
    FOOTER,
    GREETING,
    SCOPE_WORDS,
    TEMPLATES,
    Category,
    Params,
)
from sheen.notifications.negotiation import SUPPORTED

log = structlog.get_logger("sheen.notifications")
LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> Translations:
    """The catalog of a supported locale: the compiled .mo, else the .po compiled in memory."""
    if locale not in SUPPORTED:
        raise ValueError(f"unsupported locale {locale!r}")
    po = po_path(locale)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    log.warning("catalog_compiled_in_memory", locale=locale, hint="run make install")
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def _days_between(start: datetime, end: datetime) -> int:
    seconds = (end - start).total_seconds()
    return max(1, int(-(-seconds // 86400)))  # whole days, rounded up, at least one


def render(
    category: Category,
    locale: str,
    params: Params,
    *,
    created_at: datetime,
    appeal_url: str | None = None,
    appeal_expires_at: datetime | None = None,
) -> Rendered:
    """Subject and body of one notification. `appeal_url` None leaves the appeal paragraph out."""
    t = translations(locale)
    template = TEMPLATES[category]
    acted = params.action_date or created_at
    values: dict[str, str] = {
        "action_date": format_date(acted.astimezone(UTC).date(), "long", locale=locale),
        "content_kind": t.gettext(CONTENT_KIND_WORDS[params.content_kind]),
        "scope": t.gettext(SCOPE_WORDS[params.restriction_scope]),
        "appeal_status": t.gettext(APPEAL_STATUS_WORDS[params.appeal_status]),
        "appealed": t.gettext(APPEALED_WORDS[params.appealed_category]),
    }
    if params.restricted_until is not None:
        until = params.restricted_until
        days = _days_between(acted, until)
        values["restricted_until"] = format_datetime(until, "long", tzinfo=UTC, locale=locale)
        values["duration"] = t.ngettext(*DAYS, days).format(
            count=format_decimal(days, locale=locale)
        )
    paragraphs = [t.gettext(GREETING), t.gettext(template.body).format(**values)]
    if template.appealable and appeal_url is not None:
        expires = appeal_expires_at or created_at
        paragraphs.append(
            t.gettext(APPEAL).format(
                appeal_url=appeal_url,
                appeal_expires=format_date(expires.astimezone(UTC).date(), "long", locale=locale),
            )
        )
    paragraphs.append(t.gettext(FOOTER))
    return Rendered(locale, t.gettext(template.subject), "\n\n".join(paragraphs) + "\n")
