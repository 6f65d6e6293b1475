"""The four categories, the parameters each template may use, and their message ids.

Parameters are typed and closed: dates, a number derived from them, and words chosen
from fixed lists (translated in the catalogs). Nothing free-text can be a parameter, so no
violation code, internal id or moderator note can reach the rendered text; unknown keys
of a request are dropped before anything is stored.

Message ids are symbolic (`content_violation.body`): the legal wording lives in the
catalogs (`locale/*/LC_MESSAGES/messages.po`, English included), never in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from sheen.errors import PayloadError


def N_(message: str) -> str:  # the gettext marker `pybabel extract -k N_` reads
    """Mark a message id for extraction; translated later, at render time."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # `pybabel extract -k NP_:1,2`
    """Mark a plural message id pair for extraction."""
    return singular, plural


class Category(StrEnum):
    CONTENT_VIOLATION = "content_violation"
    ACCOUNT_WARNING = "account_warning"
    TEMPORARY_RESTRICTION = "temporary_restriction"
    APPEAL_UPDATE = "appeal_update"


class ContentKind(StrEnum):
    PROJECT = "project"
    SITE = "site"
    PAGE = "page"
    FILE = "file"
    COMMENT = "comment"
    PROFILE = "profile"


class RestrictionScope(StrEnum):
    PUBLISHING = "publishing"
    AI_BUILDS = "ai_builds"
    SHARING = "sharing"
    ACCOUNT = "account"


class AppealStatus(StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    UPHELD = "upheld"
    REVERSED = "reversed"


class Params(BaseModel):
    """What a template may show. Every field is optional except where a category needs it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action_date: AwareDatetime | None = None
    content_kind: ContentKind | None = None
    restricted_until: AwareDatetime | None = None
    restriction_scope: RestrictionScope | None = None
    appeal_status: AppealStatus | None = None
    appealed_category: Category | None = None


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    appealable: bool = True
    required: tuple[str, ...] = ()


TEMPLATES: dict[Category, Template] = {
    Category.CONTENT_VIOLATION: Template(
        N_("content_violation.subject"), N_("content_violation.body")
    ),
    Category.ACCOUNT_WARNING: Template(N_("account_warning.subject"), N_("account_warning.body")),
    Category.TEMPORARY_RESTRICTION: Template(
        N_("temporary_restriction.subject"),
        N_("temporary_restriction.body"),
        required=("restricted_until",),
    ),
    Category.APPEAL_UPDATE: Template(
        N_("appeal_update.subject"), N_("appeal_update.body"), appealable=False
    ),
}

CONTENT_KIND_WORDS = {
    None: N_("content_kind.other"),
    ContentKind.PROJECT: N_("content_kind.project"),
    ContentKind.SITE: N_("content_kind.site"),
    ContentKind.PAGE: N_("content_kind.page"),
    ContentKind.FILE: N_("content_kind.file"),
    ContentKind.COMMENT: N_("content_kind.comment"),
    ContentKind.PROFILE: N_("content_kind.profile"),
}
SCOPE_WORDS = {
    None: N_("restriction_scope.account"),
    RestrictionScope.PUBLISHING: N_("restriction_scope.publishing"),
    RestrictionScope.AI_BUILDS: N_("restriction_scope.ai_builds"),
    RestrictionScope.SHARING: N_("restriction_scope.sharing"),
    RestrictionScope.ACCOUNT: N_("restriction_scope.account"),
}
APPEAL_STATUS_WORDS = {
    None: N_("appeal_status.received"),
    AppealStatus.RECEIVED: N_("appeal_status.received"),
    AppealStatus.IN_REVIEW: N_("appeal_status.in_review"),
    AppealStatus.UPHELD: N_("appeal_status.upheld"),
    AppealStatus.REVERSED: N_("appeal_status.reversed"),
}
APPEALED_WORDS = {
    None: N_("appealed_category.other"),
    Category.CONTENT_VIOLATION: N_("appealed_category.content_violation"),
    Category.ACCOUNT_WARNING: N_("appealed_category.account_warning"),
    Category.TEMPORARY_RESTRICTION: N_("appealed_category.temporary_restriction"),
    Category.APPEAL_UPDATE: N_("appealed_category.other"),
}
# Shared paragraphs: greeting, the appeal invitation, the footer; and the plural of days.
GREETING = N_("common.greeting")
APPEAL = N_("common.appeal")
FOOTER = N_("common.footer")
DAYS = NP_("common.days", "common.days_plural")


def parse_params(category: Category, raw: dict[str, Any]) -> Params:
    """The typed parameters of a request; unknown keys dropped, a wrong value refused."""
    try:
        params = Params.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "params"
        raise PayloadError(f"params.{field}: {err['msg']}") from None
    missing = [f for f in TEMPLATES[category].required if getattr(params, f) is None]
    if missing:
        raise PayloadError(f"params.{missing[0]}: required for {category.value}")
    return params


def stored_params(params: Params) -> dict[str, Any]:
    """The parameters as kept in the notification row (JSON, only the known fields)."""
    return params.model_dump(mode="json", exclude_none=True)


def action_date(params: Params, fallback: datetime) -> datetime:
    return params.action_date or fallback
