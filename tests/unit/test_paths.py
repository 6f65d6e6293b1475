"""The working-directory path validator: POSIX and Windows forms, encodings, symlinks."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from sheen.security.paths import PathRefused, validate_relative_path

PROJECT = "7d0c4a52-3f0e-4c55-9a55-0f4b8c3f2a11"


def _check(raw: str, **kwargs: object) -> PurePosixPath:
    return validate_relative_path(raw, project_id=PROJECT, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/index.ts", "src/index.ts"),
        ("src/components/Button.tsx", "src/components/Button.tsx"),
        ("./src/app.js", "src/app.js"),
        ("src\\app\\page.tsx", "src/app/page.tsx"),
        ("public/favicon.ico", "public/favicon.ico"),
        ("assets/img/logo.svg", "assets/img/logo.svg"),
        ("styles/main.scss", "styles/main.scss"),
        ("package.json", "package.json"),
        (".gitignore", ".gitignore"),
        ("src/.eslintrc.json", "src/.eslintrc.json"),
        ("config/", "config"),
        ("src/100%.txt", "src/100%.txt"),
        ("src/über-größe.md", "src/über-größe.md"),
        ("lib/file.name.with.dots.js", "lib/file.name.with.dots.js"),
        ("hooks/environment.ts", "hooks/environment.ts"),
    ],
)
def test_accepts_safe_paths(raw: str, expected: str) -> None:
    """Ordinary project paths (POSIX or backslash form) come back as relative POSIX paths."""
    assert _check(raw) == PurePosixPath(expected)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # traversal, plain and encoded
        ("../etc/passwd", "dot_dot"),
        ("src/../../outside.txt", "dot_dot"),
        ("src/../src/a.js", "dot_dot"),  # would stay inside, refused anyway
        ("src\\..\\..\\x", "dot_dot"),
        ("src/.../x", "dot_dot"),
        ("src/.. /x", "dot_dot"),
        ("src/%2e%2e/x", "dot_dot"),
        ("src%2f..%2fx", "dot_dot"),
        ("src/%252e%252e/x", "dot_dot"),
        ("src/%25252e%25252e%25252fx", "dot_dot"),
        ("src/%c0%ae%c0%ae/x", "dot_dot"),
        ("src/..%c0%afx", "dot_dot"),
        ("src/..%c1%9cx", "dot_dot"),
        ("src/%e0%80%ae%e0%80%ae/x", "dot_dot"),
        ("src/%u002e%u002e/x", "dot_dot"),
        ("src/..%u2215x", "dot_dot"),
        ("src/0x2e0x2e0x2fx", "dot_dot"),
        ("src/Li4vLi4vZXRjL3Bhc3N3ZA==", "dot_dot"),
        # Unicode look-alikes of '.' and '/'
        ("src/\u2024\u2024/x", "lookalike_char"),
        ("src/\uff0e\uff0e/x", "lookalike_char"),
        ("src\u2215..\u2215x", "lookalike_char"),
        ("src\uff0f..\uff0fx", "lookalike_char"),
        ("src\u2044..\u2044x", "lookalike_char"),
        # absolute, drive, UNC and device forms
        ("/etc/passwd", "absolute"),
        ("\\etc\\passwd", "absolute"),
        ("C:\\Windows\\win.ini", "drive"),
        ("c:/x", "drive"),
        ("C:foo", "drive"),
        ("\\\\server\\share\\x", "unc_or_device"),
        ("\\\\?\\C:\\x", "unc_or_device"),
        ("\\\\.\\pipe\\x", "unc_or_device"),
        ("//server/share", "unc_or_device"),
        # blocked names at any depth, Windows-insensitively
        (".env", "blocked_name"),
        ("src/.env.local", "blocked_name"),
        ("src/.ENV", "blocked_name"),
        ("src/.env.", "blocked_name"),
        ("src/.env ", "blocked_name"),
        ("NODE_MODULES/x.js", "blocked_name"),
        ("src/node_modules/a.js", "blocked_name"),
        (
            "src/" + "".join(chr(ord(c) + 0xFEE0) for c in "node") + "_modules/a.js",
            "blocked_name",
        ),  # fullwidth letters fold to node_modules under NFKC
        (".git/config", "blocked_name"),
        ("src/.Git", "blocked_name"),
        ("lib/.ssh/id_rsa", "blocked_name"),
        ("src/secrets/key.txt", "blocked_name"),
        ("src/Private./x", "blocked_name"),
        # other unsafe shapes
        ("dist/bundle.js", "top_level_not_allowed"),
        ("build/", "top_level_not_allowed"),
        ("src//x.js", "empty_segment"),
        ("", "empty"),
        ("./", "empty"),
        ("src/a\x00.js", "nul_byte"),
        ("src/\u202egpj.exe", "unsafe_char"),
        ("src/CON", "reserved_name"),
        ("src/aux.js", "reserved_name"),
        ("src/GIT~1/config", "short_name"),
        ("src/file.txt::$DATA", "colon"),
        ("src/a?b.js", "windows_invalid_char"),
        ("src/%bg%qf", "encoded"),
        ("src/a%20b.js", "encoded"),
        ("src/" + "a" * 300, "segment_too_long"),
        ("src/" + "a/" * 600, "too_long"),
    ],
)
def test_refuses_unsafe_paths(raw: str, reason: str) -> None:
    """Traversal in any encoding, absolute/drive/UNC forms and blocked names are refused."""
    with pytest.raises(PathRefused) as info:
        _check(raw)
    assert info.value.reason == reason
    assert "\n" not in str(info.value)


def test_root_folder_must_be_on_allowlist() -> None:
    """A root name is accepted only as an allowlisted folder or an allowlisted project file."""
    assert _check("package.json") == PurePosixPath("package.json")
    assert _check("Next.Config.JS") == PurePosixPath("Next.Config.JS")
    with pytest.raises(PathRefused):
        _check("package.json", is_dir=True)
    assert _check("src", is_dir=True) == PurePosixPath("src")


@pytest.mark.parametrize("name", ["config.php", ".htpasswd", "passwd", "boot.ini", "Makefile"])
def test_root_files_outside_the_allowlist_are_refused(name: str) -> None:
    """Inclusion targets (and anything not a web project's manifest or config) stay out of the root."""
    with pytest.raises(PathRefused, match=r"root file not allowed|blocked"):
        _check(name)


@pytest.mark.parametrize("path", ["src/.htpasswd", "public/.npmrc", "lib/x/.netrc"])
def test_credential_files_are_blocked_at_any_depth(path: str) -> None:
    """Files that hold credentials are refused wherever they appear."""
    with pytest.raises(PathRefused, match="blocked"):
        _check(path)


def test_refusal_is_logged_without_the_path() -> None:
    """Each refusal logs path_refused with project id and reason, never the raw path."""
    raw = "src/../../home/alice@example.com/.ssh/id_rsa"
    with capture_logs() as logs, pytest.raises(PathRefused):
        _check(raw)
    assert logs == [
        {
            "event": "path_refused",
            "project_id": PROJECT,
            "reason": "dot_dot",
            "log_level": "warning",
        }
    ]
    assert "alice" not in str(logs)


def test_symlink_escape_is_refused(tmp_path: Path) -> None:
    """A path through an existing symlink that resolves outside the root is refused."""
    # Given a workdir whose src/ links outside it
    root, outside = tmp_path / "work", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "src").symlink_to(outside, target_is_directory=True)
    # When/Then a path below that link is refused with a symlink reason
    with pytest.raises(PathRefused) as info:
        _check("src/evil.js", root=root)
    assert info.value.reason == "symlink_escape"


def test_deep_symlink_escape_is_refused(tmp_path: Path) -> None:
    """A symlink several levels down that points outside is refused too."""
    root = tmp_path / "work"
    (root / "src" / "a").mkdir(parents=True)
    (root / "src" / "a" / "b").symlink_to("/")
    with pytest.raises(PathRefused):
        _check("src/a/b/etc/passwd", root=root)


def test_symlink_inside_root_is_allowed(tmp_path: Path) -> None:
    """A symlink that stays inside the root does not block the path."""
    root = tmp_path / "work"
    (root / "src" / "real").mkdir(parents=True)
    (root / "src" / "alias").symlink_to(root / "src" / "real", target_is_directory=True)
    assert _check("src/alias/x.js", root=root) == PurePosixPath("src/alias/x.js")


_PIECES = [
    ".",
    "..",
    "/",
    "\\",
    "%",
    "2",
    "e",
    "f",
    "c",
    "0",
    "a",
    "5",
    "u",
    "x",
    ":",
    "C",
    "%2e",
    "%2f",
    "%5c",
    "%c0",
    "%af",
    "%ae",
    "%25",
    "%u002e",
    "0x2e",
    "src",
    "public",
    "lib",
    "node_modules",
    ".env",
    "\u2024",
    "\uff0e",
    "\u2215",
    "\uff0f",
    "\u2044",
    "\u2025",
    "\ufe52",
    " ",
    "~1",
    "Li4v",
]


@pytest.fixture(scope="module")
def prop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop-root").resolve()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14).map("".join))
def test_no_accepted_path_leaves_the_root(prop_root: Path, raw: str) -> None:
    """Property: whatever the input, an accepted path resolves inside the root."""
    try:
        rel = _check(raw, root=prop_root)
    except PathRefused:
        return
    assert not rel.is_absolute() and ".." not in rel.parts
    resolved = os.path.realpath(prop_root.joinpath(*rel.parts))
    assert resolved.startswith(str(prop_root) + os.sep)
    assert rel.parts[0] in {"src", "public", "lib"} or len(rel.parts) == 1
