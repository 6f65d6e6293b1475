"""Trust & safety notifications: neutral templates, a database-enforced limit, appeals.

`notify` records a request (the database applies one-per-12-hours per user and category,
and the kill switch records it suppressed) and sends it over SMTP; `appeal` turns a signed
appeal link into a ticket with context and an `appeal_update` notification. Templates are
Babel catalogs under `locale/`; `render` and `negotiate` are what the CLI previews with.
"""

from sheen.notifications.appeals import AppealOutcome, AppealRequest, appeal
from sheen.notifications.catalog import Rendered, render
from sheen.notifications.categories import Category, Params, parse_params
from sheen.notifications.delivery import Outcome, notify, send_recorded
from sheen.notifications.negotiation import SUPPORTED, negotiate
from sheen.notifications.store import NewNotification
from sheen.notifications.tokens import AppealRefused

__all__ = [
    "SUPPORTED",
    "AppealOutcome",
    "AppealRefused",
    "AppealRequest",
    "Category",
    "NewNotification",
    "Outcome",
    "Params",
    "Rendered",
    "appeal",
    "negotiate",
    "notify",
    "parse_params",
    "render",
    "send_recorded",
]
