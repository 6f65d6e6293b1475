"""`sheen-ops notifications preview|list`: render a template; a user's notifications.

`preview` needs no services: it renders the catalogs with example parameters (or the
`--param key=value` given), the locale negotiated as the worker does it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from sheen.cli.output import emit_json, emit_table

CATEGORIES = ("content_violation", "account_warning", "temporary_restriction", "appeal_update")
PREVIEW_LINK = "https://app.example/appeal?token=PREVIEW"


@click.group()
def notifications() -> None:
    """Trust & safety notifications: preview templates, read what a user was sent."""


def _example_params(now: datetime) -> dict[str, Any]:
    return {
        "action_date": now.isoformat(),
        "content_kind": "project",
        "restricted_until": (now + timedelta(days=7)).isoformat(),
        "restriction_scope": "publishing",
        "appeal_status": "received",
        "appealed_category": "content_violation",
    }


@notifications.command()
@click.option("--category", required=True, type=click.Choice(CATEGORIES))
@click.option("--locale", default="en", show_default=True, help="Any tag: es-MX, fr_CA, ...")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override one.")
@click.option("--json", "as_json", is_flag=True)
def preview(category: str, locale: str, params: tuple[str, ...], as_json: bool) -> None:
    """Render one category's e-mail in a locale, as the worker would send it."""
    from sheen.errors import PayloadError
    from sheen.notifications import Category, negotiate, parse_params, render

    now = datetime.now(UTC).replace(microsecond=0)
    raw = _example_params(now)
    for item in params:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        raw[key] = value
    chosen = Category(category)
    try:
        typed = parse_params(chosen, raw)
    except PayloadError as exc:
        raise click.BadParameter(str(exc), param_hint="--param") from None
    negotiated = negotiate(locale)
    rendered = render(
        chosen, negotiated, typed, created_at=now, appeal_url=PREVIEW_LINK,
        appeal_expires_at=now + timedelta(days=30),
    )  # fmt: skip
    if as_json:
        emit_json({"category": category, "locale": negotiated, "subject": rendered.subject,
                   "text": rendered.text})  # fmt: skip
        return
    click.echo(f"Locale: {negotiated}\nSubject: {rendered.subject}\n\n{rendered.text}", nl=False)


@notifications.command(name="list")
@click.option("--user", "user_id", required=True, help="The user's UUID.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def list_(user_id: str, limit: int, as_json: bool) -> None:
    """A user's notifications, newest first: category, status, reason, times."""
    from sheen.db.engine import get_engine
    from sheen.notifications.store import user_notifications

    try:
        uid = uuid.UUID(user_id)
    except ValueError:
        raise click.BadParameter(f"{user_id!r} is not a UUID", param_hint="--user") from None
    found = user_notifications(get_engine(), uid, limit)
    if as_json:
        emit_json(found)
        return
    emit_table(
        ["id", "category", "locale", "status", "reason", "created", "sent"],
        [
            [r["id"], r["category"], r["locale"], r["status"],
             r["suppressed_reason"] or r["failure_reason"],
             f"{r['created_at']:%Y-%m-%d %H:%M:%S}",
             f"{r['sent_at']:%Y-%m-%d %H:%M:%S}" if r["sent_at"] else None]
            for r in found
        ],
    )  # fmt: skip
