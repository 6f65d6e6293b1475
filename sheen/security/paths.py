"""Validate relative paths that will be written inside a project's working directory.

A path from an archive member (or any client) is untrusted text. Other layers (web
servers, Windows tools, NFKC-normalising file systems) may decode it differently
from us, so we compute every plausible reading of it (percent/overlong/%u decoding,
backslashes as separators, Unicode look-alikes after NFKC) and refuse the path if
ANY reading escapes, is absolute, or names a blocked entry. What we return is the
literal name (with backslashes read as separators), never a decoded one.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from uuid import UUID

import structlog

from sheen.errors import SheenError

log = structlog.get_logger(__name__)

# Top-level folders a project may contain; plain files may also sit at the root.
ALLOWED_TOP_LEVEL = frozenset(
    {
        "src",
        "public",
        "pages",
        "components",
        "styles",
        "assets",
        "lib",
        "utils",
        "hooks",
        "types",
        "config",
    }
)
# Plain files allowed at the root: a web project's manifests and tool configs, nothing else
# (a bare `config.php` or `.htpasswd` at the root is an inclusion target, not a project file).
ROOT_FILE_PATTERNS = (
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "tsconfig*.json",
    "jsconfig.json",
    "*.config.js",
    "*.config.cjs",
    "*.config.mjs",
    "*.config.ts",
    "*.config.mts",
    "*.config.json",
    "next-env.d.ts",
    "index.html",
    "readme*",
    "license*",
    "changelog*",
    ".gitignore",
    ".eslintrc*",
    ".prettierrc*",
    ".editorconfig",
    ".nvmrc",
    ".babelrc",
    "vercel.json",
    "netlify.toml",
    "components.json",
    "favicon.ico",
    "robots.txt",
    "manifest.json",
    "sitemap.xml",
)
# Refused at any depth (compared casefolded, Windows trailing dots/spaces stripped).
BLOCKED_NAMES = frozenset(
    {
        "node_modules",
        ".git",
        ".ssh",
        "secrets",
        "private",
        ".htpasswd",
        ".netrc",
        ".npmrc",
        ".pypirc",
    }
)
BLOCKED_PREFIXES = (".env",)
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in "123456789¹²³"}
    | {f"lpt{i}" for i in "123456789¹²³"}
)
MAX_PATH_CHARS = 1024
# UTF-8 size cap; checked after MAX_PATH_CHARS, so encoding costs at most 4 KiB.
MAX_PATH_BYTES = 2048
MAX_SEGMENT_BYTES = 255
MAX_DEPTH = 48
_MAX_DECODE_ROUNDS = 4

# Characters whose meaning we guard; a look-alike must not turn into one of them.
_GUARDED = "./\\%:"
# Look-alikes that NFKC leaves alone but Windows "best fit" code pages or humans map
# onto a guarded character.
_LOOKALIKES = str.maketrans(
    {
        "\u2215": "/",
        "\u2044": "/",
        "\u29f8": "/",
        "\u2571": "/",
        "\u1735": "/",
        "\u2216": "\\",
        "\u29f5": "\\",
        "\u29f9": "\\",
        "\u00a5": "\\",
        "\u20a9": "\\",
        "\u3002": ".",
        "\u0701": ".",
        "\u0702": ".",
        "\u06d4": ".",
        "\ua4f8": ".",
        "\u2e31": ".",
        "\u2e33": ".",
        "\u2cf9": ".",
        "\u2cfe": ".",
        "\u2236": ":",
        "\ua789": ":",
        "\u02d0": ":",
        "\u0589": ":",
        "\u066a": "%",
    }
)
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_PERCENT_U = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
# Anything that looks like an escape attempt, valid hex or not (IIS "%c0%qf" tricks).
_ESCAPE_ATTEMPT = re.compile(r"%(?:%|[uU][0-9A-Za-z]{4}|[0-9A-Za-z]{2})")
# "0x2e0x2e0x2f": hex spelled out, as some filters and fuzzers do (guarded chars only).
_HEX_0X = re.compile(r"0[xX](2[eEfF]|5[cC]|25|3[aA]|00)")
# A segment that is base64 of something path-like ("Li4vLi4v" is "../../").
_BASE64 = re.compile(r"^[A-Za-z0-9+_-]{4,}={0,2}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Characters Windows forbids in names; never needed in a web project.
_WINDOWS_INVALID = frozenset('<>"|?*')
_SHORT_NAME = re.compile(r"~\d+(?:\.|$)")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class PathRefused(SheenError):
    """A path was refused; `reason` is a stable code safe to log and show."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or f"path refused: {reason.replace('_', ' ')}")


def _utf8_lenient(data: bytes) -> str:
    """Decode UTF-8 the way old servers did: overlong forms (c0 af, e0 80 ae, 5/6-byte) too."""
    out: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        extra = (
            0
            if b < 0x80
            else 1
            if b < 0xC0
            else 1
            if b < 0xE0
            else 2
            if b < 0xF0
            else 3
            if b < 0xF8
            else 4
            if b < 0xFC
            else 5
            if b < 0xFE
            else -1
        )
        if b < 0x80:
            out.append(chr(b))
            i += 1
            continue
        tail = data[i + 1 : i + 1 + extra] if extra > 0 and b >= 0xC0 else b""
        if extra <= 0 or b < 0xC0 or len(tail) != extra or any(c & 0xC0 != 0x80 for c in tail):
            out.append("\ufffd")
            i += 1
            continue
        cp = b & (0x7F >> (extra + 1))
        for c in tail:
            cp = (cp << 6) | (c & 0x3F)
        out.append(chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd")
        i += 1 + extra
    return "".join(out)


def _decode_once(text: str) -> str:
    text = _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _HEX_0X.sub(lambda m: chr(int(m.group(1), 16)), text)
    return _PERCENT_RUN.sub(
        lambda m: _utf8_lenient(bytes.fromhex(m.group(0).replace("%", ""))), text
    )


def _unicode_form(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)


def readings(raw: str) -> list[str]:
    """Every interpretation of `raw` a downstream layer might use, literal first."""
    forms = [raw]
    current = raw
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = _decode_once(current)
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    forms += [_unicode_form(f) for f in list(forms)]
    decoded_unicode = _decode_once(forms[-1])
    if decoded_unicode != forms[-1]:
        forms.append(decoded_unicode)
    return [f.replace("\\", "/") for f in forms]


def _base64_reading(segment: str) -> str | None:
    """The decoded text of a base64-looking segment, if it is printable ASCII."""
    if not _BASE64.match(segment):
        return None
    try:
        text = base64.urlsafe_b64decode(segment.replace("+", "-") + "=" * (-len(segment) % 4))
        decoded = text.decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if decoded.isprintable() else None


def windows_name(segment: str) -> str:
    """The name Windows would use: casefolded, trailing dots and spaces dropped."""
    return segment.rstrip(". ").casefold()


def _ascii_case_target(ch: str) -> str | None:
    """The ASCII letters a non-ASCII letter becomes under some case mapping, if any.

    U+0131 (dotless i) upper-cases to `I`, U+0130 lower-cases to `i` + U+0307,
    U+017F (long s) upper-cases to `S`, U+212A (Kelvin) lower-cases to `k`: a file system with its own case table may treat them as ASCII.
    """
    if ch.isascii():
        return None
    for mapped in (ch.casefold(), ch.lower(), ch.upper(), ch.upper().lower()):
        bare = "".join(
            c for c in unicodedata.normalize("NFD", mapped) if not unicodedata.combining(c)
        )
        if bare and bare.isascii() and bare.isalpha():
            return bare.lower()
    return None


def ascii_case_fold(segment: str) -> str:
    """`segment` with every non-ASCII letter that case-maps onto ASCII replaced by it."""
    if segment.isascii():
        return segment.casefold()
    return "".join(_ascii_case_target(ch) or ch.casefold() for ch in segment)


def has_ascii_case_lookalike(segment: str) -> bool:
    return not segment.isascii() and any(_ascii_case_target(ch) for ch in segment)


def is_blocked_name(segment: str) -> bool:
    """True for names that must never come from an archive (secrets, VCS, dependencies).

    Compared casefolded and after folding case look-alikes onto ASCII, so `.g` U+0131 `t`,
    `pr` U+0131 `vate` and `PR` U+0130 `VATE` are blocked like `.git` and `private`.
    """
    for name in {windows_name(segment), ascii_case_fold(segment.rstrip(". "))}:
        if name in BLOCKED_NAMES or name.startswith(BLOCKED_PREFIXES):
            return True
    return False


def _first(checks: tuple[tuple[bool, str], ...]) -> str | None:
    return next((code for failed, code in checks if failed), None)


def _is_dot_dot(segment: str) -> bool:
    """`..`, `.. `, `...`, `..2f..`: parent, or what a filter left of an encoded parent."""
    return segment.lstrip(" ").startswith("..")


def _segment_reason(segment: str) -> str | None:
    stem = windows_name(segment).split(".", 1)[0].rstrip(" ")
    return _first(
        (
            (segment == "", "empty_segment"),
            (segment.strip(". ") == "" and segment != ".", "dot_segment"),
            (":" in segment, "colon"),
            (not _WINDOWS_INVALID.isdisjoint(segment), "windows_invalid_char"),
            (is_blocked_name(segment), "blocked_name"),
            (stem in _WINDOWS_DEVICES, "reserved_name"),
            (bool(_SHORT_NAME.search(segment)), "short_name"),
            (len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES, "segment_too_long"),
        )
    )


def _form_reason(form: str) -> str | None:
    """Why one reading of the path is unsafe, or None."""
    segments = (form[:-1] if form.endswith("/") else form).split("/")
    # `..` is checked before the rest so a traversal is reported as such.
    reason = _first(
        (
            (form.startswith("//"), "unc_or_device"),
            (form.startswith("/"), "absolute"),
            (bool(_DRIVE.match(form)), "drive"),
            (any(_is_dot_dot(s) for s in segments), "dot_dot"),
        )
    )
    for segment in segments:
        reason = reason or _segment_reason(segment)
    return reason


def _length_reason(raw: str) -> str | None:
    """Raw size, in code points then UTF-8 bytes, before any decoding or normalisation."""
    if len(raw) > MAX_PATH_CHARS:
        return "too_long"
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return "too_long"
    return None


def _char_reason(raw: str) -> str | None:
    literal = raw.replace("\\", "/")
    unicode_form = _unicode_form(literal)
    return _first(
        (
            (not raw or raw in ("/", "./"), "empty"),
            ("\x00" in raw, "nul_byte"),
            (any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in raw), "unsafe_char"),
            (any(unicode_form.count(ch) != literal.count(ch) for ch in _GUARDED), "lookalike_char"),
        )
    )


def _shape_reason(parts: list[str], is_dir: bool) -> str | None:
    """Root-level folders and root-level files must each be on their allowlist."""
    top_is_folder = len(parts) > 1 or is_dir
    root_file = bool(parts) and not top_is_folder
    return _first(
        (
            (not parts, "empty"),
            (len(parts) > MAX_DEPTH, "too_deep"),
            (bool(parts) and has_ascii_case_lookalike(parts[0]), "case_lookalike"),
            (
                bool(parts) and top_is_folder and parts[0] not in ALLOWED_TOP_LEVEL,
                "top_level_not_allowed",
            ),
            (
                root_file
                and not any(
                    fnmatch.fnmatchcase(windows_name(parts[0]), p) for p in ROOT_FILE_PATTERNS
                ),
                "root_file_not_allowed",
            ),
        )
    )


def _lexical_reason(raw: str, is_dir: bool) -> tuple[str | None, PurePosixPath | None]:
    reason = _length_reason(raw) or _char_reason(raw)
    if reason:
        return reason, None
    forms = readings(raw)
    hidden = [b for b in map(_base64_reading, forms[0].split("/")) if b]
    reason = next((r for r in map(_form_reason, forms + hidden) if r), None)
    # A literal name never needs escapes: any decodable or escape-like sequence is refused.
    if not reason and (
        any(_ESCAPE_ATTEMPT.search(f) or _decode_once(f) != f for f in forms)
        or any(ch in b for b in hidden for ch in "/\\%")
    ):
        reason = "encoded"
    parts = [p for p in forms[0].rstrip("/").split("/") if p != "."]
    reason = reason or _shape_reason(parts, is_dir or raw.endswith(("/", "\\")))
    return (reason, None) if reason else (None, PurePosixPath(*parts))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _filesystem_reason(root: Path, rel: PurePosixPath) -> str | None:
    """Walk each existing component: a symlink must resolve inside the real root."""
    real_root = os.path.realpath(root)
    current = real_root
    for part in rel.parts:
        current = os.path.join(current, part)
        if os.path.islink(current) and not _inside(os.path.realpath(current), real_root):
            return "symlink_escape"
        if not os.path.lexists(current):
            break
    if not _inside(os.path.realpath(os.path.join(real_root, *rel.parts)), real_root):
        return "outside_root"
    return None


def validate_relative_path(
    raw: str,
    *,
    project_id: str | UUID,
    root: Path | None = None,
    is_dir: bool = False,
) -> PurePosixPath:
    """Return `raw` as a safe relative path inside the project, or raise PathRefused.

    `root` (the working directory) enables the file-system check of existing
    symlinks; `is_dir` says the entry is a folder (a root-level folder must be on
    the allowlist, a root-level file just must not be a blocked name).
    """
    if not isinstance(raw, str):
        reason, rel = "not_text", None
    else:
        reason, rel = _lexical_reason(raw, is_dir)
    if rel is not None and root is not None:
        reason = _filesystem_reason(root, rel)
    if reason or rel is None:
        code = reason or "invalid"
        log.warning("path_refused", project_id=str(project_id), reason=code)
        raise PathRefused(code)
    return rel
