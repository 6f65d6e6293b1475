"""Validate relative paths that will be written inside a project's working directory.

A path from an archive member (or any client) is untrusted text. Other layers (web
servers, Windows tools, NFKC-normalising file systems) may decode it differently
from us, so we compute every plausible reading of it (percent/overlong/%u decoding,
backslashes as separators, Unicode look-alikes after NFKC) and refuse the path if
ANY reading escapes, is absolute, or names a blocked entry. What we return is the
literal name (with backslashes read as separators), never a decoded one.
"""

from __future__ import annotations

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
    {"src", "public", "pages", "components", "styles", "assets", "lib", "utils", "hooks",
     "types", "config"}
)
# Refused at any depth (compared casefolded, Windows trailing dots/spaces stripped).
BLOCKED_NAMES = frozenset({"node_modules", ".git", ".ssh", "secrets", "private"})
BLOCKED_PREFIXES = (".env",)
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in "123456789¹²³"}
    | {f"lpt{i}" for i in "123456789¹²³"}
)
MAX_PATH_CHARS = 1024
MAX_SEGMENT_BYTES = 255
MAX_DEPTH = 48
_MAX_DECODE_ROUNDS = 4

# Characters whose meaning we guard; a look-alike must not turn into one of them.
_GUARDED = "./\\%:"
# Look-alikes that NFKC leaves alone but Windows "best fit" code pages or humans map
# onto a guarded character.
_LOOKALIKES = str.maketrans({
    "\u2215": "/", "\u2044": "/", "\u29f8": "/", "\u2571": "/", "\u1735": "/",
    "\u2216": "\\", "\u29f5": "\\", "\u29f9": "\\", "\u00a5": "\\", "\u20a9": "\\",
    "\u3002": ".", "\u0701": ".", "\u0702": ".", "\u06d4": ".", "\ua4f8": ".",
    "\u2e31": ".", "\u2e33": ".", "\u2cf9": ".", "\u2cfe": ".",
    "\u2236": ":", "\ua789": ":", "\u02d0": ":", "\u0589": ":",
    "\u066a": "%",
})
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_PERCENT_U = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
# Anything that looks like an escape attempt, valid hex or not (IIS "%c0%qf" tricks).
_ESCAPE_ATTEMPT = re.compile(r"%(?:%|[uU][0-9A-Za-z]{4}|[0-9A-Za-z]{2})")
_DRIVE = re.compile(r"^[A-Za-z]:")
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
        extra = 0 if b < 0x80 else 1 if b < 0xC0 else 1 if b < 0xE0 else 2 if b < 0xF0 \
            else 3 if b < 0xF8 else 4 if b < 0xFC else 5 if b < 0xFE else -1
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
    return _PERCENT_RUN.sub(lambda m: _utf8_lenient(bytes.fromhex(m.group(0).replace("%", ""))),
                            text)


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


def windows_name(segment: str) -> str:
    """The name Windows would use: casefolded, trailing dots and spaces dropped."""
    return segment.rstrip(". ").casefold()


def is_blocked_name(segment: str) -> bool:
    """True for names that must never come from an archive (secrets, VCS, dependencies)."""
    name = windows_name(segment)
    return name in BLOCKED_NAMES or name.startswith(BLOCKED_PREFIXES)


def _segment_reason(segment: str) -> str | None:
    if segment == "..":
        return "dot_dot"
    if segment.strip(". ") == "" and segment != ".":
        return "dot_dot" if ".." in segment else "dot_segment"
    if ":" in segment:
        return "colon"
    if is_blocked_name(segment):
        return "blocked_name"
    stem = windows_name(segment).split(".", 1)[0].rstrip(" ")
    if stem in _WINDOWS_DEVICES:
        return "reserved_name"
    if _SHORT_NAME.search(segment):
        return "short_name"
    if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
        return "segment_too_long"
    return None


def _form_reason(form: str) -> str | None:
    """Why one reading of the path is unsafe, or None."""
    if form.startswith("//"):
        return "unc_or_device"
    if form.startswith("/"):
        return "absolute"
    if _DRIVE.match(form):
        return "drive"
    body = form[:-1] if form.endswith("/") else form
    segments = body.split("/")
    # Check `..` first so a traversal is reported as such whatever else is wrong.
    if any(s.strip(" ") == ".." or (s.strip(". ") == "" and ".." in s) for s in segments):
        return "dot_dot"
    for segment in segments:
        if segment == "":
            return "empty_segment"
        reason = _segment_reason(segment)
        if reason:
            return reason
    return None


def _char_reason(raw: str) -> str | None:
    if "\x00" in raw:
        return "nul_byte"
    if any(unicodedata.category(ch) in _UNSAFE_CATEGORIES for ch in raw):
        return "unsafe_char"
    literal = raw.replace("\\", "/")
    unicode_form = _unicode_form(literal)
    if any(unicode_form.count(ch) != literal.count(ch) for ch in _GUARDED):
        return "lookalike_char"
    return None


def _lexical_reason(raw: str, is_dir: bool) -> tuple[str | None, PurePosixPath | None]:
    if not raw or raw in ("/", "./"):
        return "empty", None
    if len(raw) > MAX_PATH_CHARS:
        return "too_long", None
    reason = _char_reason(raw)
    if reason:
        return reason, None
    forms = readings(raw)
    for form in forms:
        reason = _form_reason(form)
        if reason:
            return reason, None
    if _ESCAPE_ATTEMPT.search(raw) or any(_ESCAPE_ATTEMPT.search(f) for f in forms[1:]):
        return "encoded", None
    parts = [p for p in forms[0].rstrip("/").split("/") if p != "."]
    if not parts:
        return "empty", None
    if len(parts) > MAX_DEPTH:
        return "too_deep", None
    if len(parts) == 1 and (is_dir or raw.endswith(("/", "\\"))):
        if parts[0] not in ALLOWED_TOP_LEVEL:
            return "top_level_not_allowed", None
    elif len(parts) > 1 and parts[0] not in ALLOWED_TOP_LEVEL:
        return "top_level_not_allowed", None
    return None, PurePosixPath(*parts)


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
