"""Lost-task accounting: every task the fleet publishes is counted sent, every end counted done.

`TaskLedger` holds the tasks sent and not yet finished; `sheen-ops jobs audit` and the
`sheen_tasks_missing` gauge read it. See docs/scaling.md ("Proving nothing went missing").
"""

from sheen.ledger.ledger import Missing, TaskLedger, grace_seconds, ledger_for

__all__ = ["Missing", "TaskLedger", "grace_seconds", "ledger_for"]
