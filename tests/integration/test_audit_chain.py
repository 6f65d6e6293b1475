"""Hash-chained audit logs: linked race-free by the insert trigger, and any tampering is named."""

from __future__ import annotations

import threading
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sheen.artifacts import verify
from sheen.deadletters import audit as dl_audit

SHA = "a" * 64


def _insert_cleanup(db, n: int) -> list[int]:
    with db.begin() as conn:
        return list(
            conn.execute(
                text(
                    "INSERT INTO cleanup_audit_log (artifact_id, action, sha256, storage_key, job,"
                    " effective_at) SELECT gen_random_uuid(), 'soft_delete', :sha, 'k' || g, 'test',"
                    " now() FROM generate_series(1, :n) AS g RETURNING id"
                ),
                {"sha": SHA, "n": n},
            ).scalars()
        )


def _tamper(db, statement: str, how: str = "replica", **params) -> None:
    """Run `statement` with the append-only trigger out of the way, as an intruder would."""
    with db.begin() as conn:
        conn.execute(text("SET LOCAL \"TimeZone\" = 'UTC'"))
        if how == "replica":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement), params)
        else:
            conn.execute(text("ALTER TABLE cleanup_audit_log DISABLE TRIGGER USER"))
            conn.execute(text(statement), params)
            conn.execute(text("ALTER TABLE cleanup_audit_log ENABLE TRIGGER USER"))


def test_audit_chain_concurrent_inserts_link_in_one_order(db):
    """Eight writers inserting at once: one chain, seq 1..N without gaps, every link valid."""
    # Given eight threads, each inserting 25 rows one transaction at a time
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(25):
                _insert_cleanup(db, 1)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    # When they all run
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the chain is intact and its head is the last row
    assert not errors
    report = verify(db, "cleanup_audit_log")
    assert report.ok, report.first_break
    assert report.rows == report.head_seq == 200


def test_audit_chain_detects_update_with_triggers_bypassed(db):
    """An UPDATE made with triggers off (replication role) is named by its row id."""
    # Given a chain of 10 rows
    ids = _insert_cleanup(db, 10)
    assert verify(db, "cleanup_audit_log").ok
    # When row 4 is changed with the append-only trigger bypassed
    _tamper(db, "UPDATE cleanup_audit_log SET job = 'forged' WHERE id = :id", id=ids[3])
    # Then verify names row 4 as altered
    broken = verify(db, "cleanup_audit_log").first_break
    assert broken is not None
    assert (broken.id, broken.problem) == (ids[3], "altered")


def test_audit_chain_detects_rehashed_row_at_the_next_link(db):
    """A row altered and re-hashed to match still breaks the next row's link."""
    ids = _insert_cleanup(db, 5)
    # When row 2 is altered and its row_hash recomputed the way the trigger does
    _tamper(
        db,
        "UPDATE cleanup_audit_log AS t SET job = 'forged',"
        " row_hash = sheen_chain_digest(to_jsonb(t) - 'row_hash' || '{\"job\": \"forged\"}')"
        " WHERE id = :id",
        id=ids[1],
    )
    # Then the break shows at row 3, whose prev_hash no longer matches
    broken = verify(db, "cleanup_audit_log").first_break
    assert broken is not None
    assert (broken.id, broken.problem) == (ids[2], "reordered")


def test_audit_chain_detects_deleted_row_with_trigger_disabled(db):
    """A DELETE with the trigger disabled: the gap is named at the row after it."""
    # Given a chain of 10 rows
    ids = _insert_cleanup(db, 10)
    # When row 6 is deleted with ALTER TABLE ... DISABLE TRIGGER
    _tamper(db, "DELETE FROM cleanup_audit_log WHERE id = :id", how="disable", id=ids[5])
    # Then verify reports rows removed before row 7
    broken = verify(db, "cleanup_audit_log").first_break
    assert broken is not None
    assert (broken.id, broken.problem) == (ids[6], "removed")


def test_audit_chain_detects_removed_tail_and_reordering(db):
    """Deleting the last row shows against the head; swapping two rows' order breaks a link."""
    ids = _insert_cleanup(db, 6)
    _tamper(db, "DELETE FROM cleanup_audit_log WHERE id = :id", id=ids[-1])
    assert verify(db, "cleanup_audit_log").first_break.problem == "tail_removed"
    # When rows 2 and 3 swap places in the chain
    _tamper(db, "UPDATE cleanup_audit_log SET chain_seq = -1 WHERE id = :a", a=ids[1])
    _tamper(db, "UPDATE cleanup_audit_log SET chain_seq = 2 WHERE id = :b", b=ids[2])
    _tamper(db, "UPDATE cleanup_audit_log SET chain_seq = 3 WHERE id = :a", a=ids[1])
    # Then the first row out of place is named
    broken = verify(db, "cleanup_audit_log").first_break
    assert broken is not None and broken.id in (ids[1], ids[2])


def test_audit_chain_logs_stay_append_only(db):
    """With the triggers on, UPDATE and DELETE of a chained log are refused by the database."""
    _insert_cleanup(db, 1)
    for statement in ("UPDATE cleanup_audit_log SET job = 'x'", "DELETE FROM cleanup_audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.begin() as conn:
            conn.execute(text(statement))


def test_audit_chain_covers_dead_letter_audit_and_cli_names_the_row(db):
    """dead_letter_audit rows are chained too; `sheen-ops audit verify` exits 1 naming the row."""
    from sheen.cli.main import _register, cli

    _register()
    # Given dead-letter audit rows written by the existing writer
    dl_audit.record(db, "requeue", {str(uuid.uuid4()): "jobs.x" for _ in range(3)}, "ops")
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--log", "dead_letter_audit", "--json"])
    assert ok.exit_code == 0, ok.output
    # When one is altered behind the trigger's back
    with db.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        target = conn.execute(
            text("UPDATE dead_letter_audit SET actor = 'nobody' WHERE chain_seq = 2 RETURNING id")
        ).scalar_one()
    # Then the CLI fails and names it
    bad = runner.invoke(cli, ["audit", "verify", "--log", "dead_letter_audit"])
    assert bad.exit_code == 1
    assert f"row id {target}" in bad.output
