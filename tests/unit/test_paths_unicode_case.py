"""The path validator: raw length refused before any normalisation; no case variant of a
blocked name passes."""

from __future__ import annotations

import time

import pytest

from sheen.security.paths import (
    MAX_PATH_BYTES,
    MAX_PATH_CHARS,
    PathRefused,
    is_blocked_name,
    validate_relative_path,
)

DOTLESS_I, DOTTED_CAPITAL_I, LONG_S = "\u0131", "\u0130", "\u017f"
PROJECT = "7d0c4a52-3f0e-4c55-9a55-0f4b8c3f2a11"


def _reason(raw: str) -> str:
    with pytest.raises(PathRefused) as caught:
        validate_relative_path(raw, project_id=PROJECT)
    return caught.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        f"src/.g{DOTLESS_I}t/config",  # dotless i upper-cases to I: .GIT
        f"src/pr{DOTLESS_I}vate/key.pem",
        f"src/PR{DOTTED_CAPITAL_I}VATE/key.pem",  # dotted capital I lower-cases to i + U+0307
        f"src/.g{DOTTED_CAPITAL_I}t",
        f"src/{LONG_S}ecrets/a",  # long s
    ],
)
def test_turkish_and_other_case_variants_of_blocked_names_are_refused(raw: str) -> None:
    """Given a blocked name spelled with a letter that case-maps onto ASCII, it is refused."""
    # Given / When
    reason = _reason(raw)
    # Then
    assert reason == "blocked_name"


def test_is_blocked_name_folds_case_lookalikes() -> None:
    """Given the Turkish i variants, the blocked-name check sees .git and private."""
    # Given / When / Then
    assert is_blocked_name(f".g{DOTLESS_I}t") and is_blocked_name(f"pr{DOTLESS_I}vate")
    assert is_blocked_name(f"PR{DOTTED_CAPITAL_I}VATE")
    assert not is_blocked_name("größe") and not is_blocked_name("gitlab")


@pytest.mark.parametrize(
    "raw",
    ["sr\u010b/a.js", f"{LONG_S}rc/a.js", f"publ{DOTTED_CAPITAL_I}c/x.png", f"l{DOTLESS_I}b/a.js"],
)
def test_first_segment_with_case_lookalike_letters_is_refused(raw: str) -> None:
    """Given a top-level name with a letter that case-maps onto ASCII (marks aside), it is refused."""
    # Given / When
    reason = _reason(raw)
    # Then
    assert reason == "case_lookalike"


def test_non_ascii_deeper_names_stay_allowed() -> None:
    """Given ordinary accented names below an allowed folder, they are accepted."""
    # Given / When
    rel = validate_relative_path("src/über-größe/çà.md", project_id=PROJECT)
    # Then
    assert str(rel) == "src/über-größe/çà.md"


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        ("a" * 10_000_000, "10 MB of ASCII"),
        ("\ufdfa" * 1_000_000, "1 M code points that NFKC expands 18x"),
        ("src/" + "%2e" * 3_000_000, "3 M escapes"),
    ],
)
def test_huge_paths_are_refused_fast_without_normalising(raw: str, what: str) -> None:
    """Given a multi-megabyte path, it is refused as too_long in well under 50 ms."""
    # Given / When
    began = time.perf_counter()
    reason = _reason(raw)
    elapsed = time.perf_counter() - began
    # Then
    assert reason == "too_long", what
    assert elapsed < 0.05, f"{what}: {elapsed * 1000:.1f} ms"


def test_byte_length_is_checked_separately_from_code_points() -> None:
    """Given a path short in code points but long in UTF-8 bytes, it is refused as too_long."""
    # Given: 1,000 four-byte characters, under the code-point cap, over the byte cap.
    raw = "src/" + "\U0001f600" * (MAX_PATH_CHARS - 10)
    assert len(raw) <= MAX_PATH_CHARS and len(raw.encode()) > MAX_PATH_BYTES
    # When / Then
    assert _reason(raw) == "too_long"


def test_tar_with_a_3_mb_pax_path_is_refused_quickly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Given a tar whose pax header carries a 3 MB member name, the restore refuses it fast."""
    import tarfile

    from sheen.versions.restore import RestoreRefused, restore_archive

    # Given
    archive = tmp_path / "long.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("src/" + "\ufdfa" * 1_000_000)
        info.size = 0
        tar.addfile(info)
    workdir = tmp_path / "project"
    workdir.mkdir()
    # When
    began = time.perf_counter()
    with pytest.raises(RestoreRefused) as caught:
        restore_archive(archive, workdir, PROJECT)
    elapsed = time.perf_counter() - began
    # Then
    assert caught.value.path_reason == "too_long"
    assert elapsed < 1.0, f"{elapsed:.2f} s"
