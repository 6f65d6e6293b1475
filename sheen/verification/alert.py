"""Staging: one Slack-compatible message per failed run to SHEEN_ALERT_WEBHOOK_URL.

Posted after the run's final transaction committed, at most once per run: a crash
between the commit and the post loses the message (the rows, the metric and the
log line remain); a failed post is logged, never retried, never fails the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from sheen.deadletters.digest import post_webhook
from sheen.errors import SheenError
from sheen.settings import Settings

if TYPE_CHECKING:
    from sheen.verification.service import RunReport

log = structlog.get_logger(__name__)
MAX_FILES_SHOWN = 10


def slack_message(report: RunReport) -> dict[str, object]:
    where = f"`{report.domain or 'unknown domain'}` ({report.environment})"
    lines = [
        f"*Migration verification {report.result}* for {where}: {report.reason}",
        f"commit {report.commit or '-'}, manifest version {report.version or '-'}, "
        f"{report.files_failed} of {report.files_total} files failed, "
        f"schema {'matched' if report.schema_matched else 'did not match' if report.schema_matched is False else 'not checked'}",
    ]
    for failure in report.failures[:MAX_FILES_SHOWN]:
        lines.append(
            f"- {failure.get('path', failure.get('kind'))}: {failure.get('reason')} {failure.get('error', '')}"
        )
    lines.append(f"Details: `sheen-ops verify history --domain {report.domain or '...'}`")
    return {"text": "\n".join(lines), "sheen_verification": report.as_dict()}


def alert_failed_run(report: RunReport, settings: Settings) -> bool:
    """Post the message; False (and a log line) when no URL is set or the post failed."""
    if not settings.alert_webhook_url:
        log.warning("migration_verification_alert_skipped", run_id=str(report.run_id))
        return False
    try:
        post_webhook(
            settings.alert_webhook_url,
            slack_message(report),
            settings.alert_webhook_timeout_seconds,
        )
    except SheenError as exc:
        log.warning(
            "migration_verification_alert_failed", run_id=str(report.run_id), error=str(exc)
        )
        return False
    log.info("migration_verification_alerted", run_id=str(report.run_id))
    return True
