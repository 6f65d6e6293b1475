"""The notification templates: complete catalogs, every category in every locale, nothing internal."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from sheen.errors import PayloadError
from sheen.notifications import catalog
from sheen.notifications.catalog import LOCALE_DIR, render
from sheen.notifications.categories import TEMPLATES, Category, parse_params
from sheen.notifications.negotiation import SUPPORTED, negotiate

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
FULL_PARAMS = {
    "action_date": "2026-12-02T10:00:00+00:00",
    "content_kind": "project",
    "restricted_until": "2026-12-09T10:00:00+00:00",
    "restriction_scope": "publishing",
    "appeal_status": "received",
    "appealed_category": "content_violation",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _catalog(locale: str):
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=locale)


def _template_ids() -> set[str]:
    with (LOCALE_DIR / "messages.pot").open("rb") as fp:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fp) if m.id}


@pytest.mark.parametrize("locale", SUPPORTED)
def test_catalog_has_every_message_translated_and_none_fuzzy(locale):
    """Each locale's .po holds every message id of the template, translated, none fuzzy."""
    # Given the extracted template and one locale's catalog
    wanted = _template_ids()
    cat = _catalog(locale)
    # When its entries are read
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in cat if m.id}
    # Then none is missing, empty, fuzzy or obsolete
    assert set(entries) == wanted
    assert not cat.fuzzy
    for key, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{locale}: {key} untranslated"
        assert not message.fuzzy, f"{locale}: {key} fuzzy"
    assert not cat.obsolete


def test_code_and_template_agree_on_message_ids(tmp_path):
    """The ids the code marks with N_/NP_ are exactly the extracted template's (run catalogs-extract)."""
    # Given / When pybabel extracts the code's message ids now
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).with_name("pybabel")), "extract", "-F", "sheen/notifications/babel.cfg",
         "-k", "N_", "-k", "NP_:1,2", "--no-default-keywords", "--omit-header", "-o", str(pot),
         "sheen/notifications"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = pot.read_text()
    extracted = set(re.findall(r'^msgid "(.+)"$', out, re.MULTILINE))
    # Then they match the committed template
    assert extracted == _template_ids()


@pytest.mark.parametrize("locale", ["es", "fr"])
def test_translations_use_the_same_placeholders_as_english(locale):
    """A translation never drops or invents a {placeholder} (the formatter would fail or leak)."""
    english = {m.id: m.string for m in _catalog("en") if m.id}
    for message in _catalog(locale):
        if not message.id:
            continue
        ours = message.string if isinstance(message.string, tuple) else (message.string,)
        theirs = english[message.id]
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        want = set(PLACEHOLDER.findall(theirs[0]))
        for text in ours:
            assert set(PLACEHOLDER.findall(text)) == want, f"{locale}: {message.id}"


@pytest.mark.parametrize("locale", SUPPORTED)
@pytest.mark.parametrize("category", list(Category))
def test_every_category_renders_in_every_locale(category, locale):
    """Subject and body render for each category and locale, in that language, with the link."""
    # Given
    params = parse_params(category, FULL_PARAMS)
    # When
    rendered = render(
        category, locale, params, created_at=NOW,
        appeal_url="https://app.example.test/appeal?token=abc", appeal_expires_at=NOW,
    )  # fmt: skip
    # Then
    assert rendered.subject and rendered.text.count("\n\n") >= 3
    assert "{" not in rendered.text and "}" not in rendered.text
    has_link = "https://app.example.test/appeal?token=abc" in rendered.text
    assert has_link is TEMPLATES[category].appealable
    english = render(category, "en", params, created_at=NOW)
    if locale != "en":
        assert rendered.subject != english.subject


@pytest.mark.parametrize(
    ("locale", "date_text", "days"),
    [("en", "December 2, 2026", "7 days"), ("es", "2 de diciembre de 2026", "7 días"),
     ("fr", "2 décembre 2026", "7 jours")],
)  # fmt: skip
def test_dates_and_numbers_are_formatted_for_the_locale(locale, date_text, days):
    """The action date and the restriction's length read the way the locale writes them."""
    params = parse_params(Category.TEMPORARY_RESTRICTION, FULL_PARAMS)
    text = render(Category.TEMPORARY_RESTRICTION, locale, params, created_at=NOW).text
    assert date_text in text
    assert days in text


def test_large_numbers_use_the_locale_grouping_and_plural():
    """1,200 days: English groups with a comma, French with a narrow space, both plural."""
    params = parse_params(
        Category.TEMPORARY_RESTRICTION,
        {
            "action_date": NOW.isoformat(),
            "restricted_until": (NOW + timedelta(days=1200)).isoformat(),
        },
    )
    assert "1,200 days" in render(Category.TEMPORARY_RESTRICTION, "en", params, created_at=NOW).text
    assert (
        "1\u202f200 jours"
        in render(Category.TEMPORARY_RESTRICTION, "fr", params, created_at=NOW).text
    )
    one = parse_params(
        Category.TEMPORARY_RESTRICTION,
        {
            "action_date": NOW.isoformat(),
            "restricted_until": (NOW + timedelta(hours=5)).isoformat(),
        },
    )
    assert "for 1 day," in render(Category.TEMPORARY_RESTRICTION, "en", one, created_at=NOW).text


INTERNAL = st.one_of(
    st.sampled_from(["T05", "T-05", "violation:T05", "mod note: repeat offender", "case-99812"]),
    st.text(min_size=1, max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(
    category=st.sampled_from(list(Category)),
    locale=st.sampled_from(SUPPORTED),
    junk=st.dictionaries(st.text(min_size=1, max_size=20), INTERNAL, max_size=6),
    code=st.sampled_from(["T05", "T17", "V-301"]),
    note=st.text(alphabet=st.characters(codec="utf-8"), min_size=8, max_size=60).filter(
        lambda s: s.strip() and len(set(s)) > 4
    ),
)
def test_no_internal_code_or_note_reaches_the_text(category, locale, junk, code, note):
    """Whatever else the params hold (codes, notes, ids), only typed values reach the text."""
    # Given params carrying an internal code and a moderator note beside the real fields
    raw = {**junk, "violation_code": code, "moderator_note": note, "internal_case": note,
           "content_kind": "comment", "restricted_until": "2026-12-10T00:00:00+00:00"}  # fmt: skip
    # When rendered
    try:
        params = parse_params(category, raw)
    except PayloadError:
        return  # a junk key collided with a typed field and was refused: nothing rendered
    rendered = render(
        category, locale, params, created_at=NOW, appeal_url="https://x.test/a?token=t"
    )
    # Then neither appears (compared against the same template without them)
    clean = render(category, locale, parse_params(category, {k: raw[k] for k in ("content_kind", "restricted_until")}),
                   created_at=NOW, appeal_url="https://x.test/a?token=t")  # fmt: skip
    assert rendered == clean
    assert code not in rendered.text and code not in rendered.subject


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("es-MX", "es"), ("es_419", "es"), ("fr-CA", "fr"), ("FR", "fr"), ("en-GB", "en"),
     ("de-DE, fr;q=0.8, en;q=0.5", "fr"), ("zz", "en"), ("", "en"), (None, "en"),
     ("!!@@", "en"), ("es;q=abc", "en"), ("x" * 5000, "en"), ("\x00es", "en"), ("es-", "en"),
     ("fr;q=0, es", "es")],
)  # fmt: skip
def test_locale_negotiation_never_fails(raw, expected):
    """Babel negotiation: regional variants get their language; unknown or malformed gets English."""
    assert negotiate(raw) == expected


def test_header_wins_over_the_field():
    """The x-sheen-locale header is tried first, then the payload's field."""
    assert negotiate("fr", "es") == "fr"
    assert negotiate("??", "es") == "es"


def test_missing_compiled_catalog_is_compiled_in_memory(tmp_path, monkeypatch):
    """A checkout without .mo files still renders (the .po compiled in memory)."""
    # Given a locale folder holding only the .po sources
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(catalog, "LOCALE_DIR", copy)
    catalog.translations.cache_clear()
    try:
        # When / Then
        params = parse_params(Category.ACCOUNT_WARNING, {})
        assert render(Category.ACCOUNT_WARNING, "fr", params, created_at=NOW).subject == (
            "Avis concernant votre compte SheenApps"
        )
    finally:
        catalog.translations.cache_clear()


def test_pybabel_compiles_every_catalog(tmp_path):
    """`pybabel compile` (what make install runs) compiles each .po without an error."""
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    pybabel = str(Path(sys.executable).with_name("pybabel"))
    out = subprocess.run(
        [pybabel, "compile", "--statistics", "-D", "messages", "-d", str(copy)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr.count("(100%) translated") == len(SUPPORTED)
    for locale in SUPPORTED:
        assert (copy / locale / "LC_MESSAGES" / "messages.mo").stat().st_size > 0


def test_makefile_builds_the_catalogs_on_install():
    """make install depends on the compiled catalogs, so a fresh clone's make test has them."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^install: .*\$\(CATALOGS_MO\)", makefile, re.MULTILINE)
    assert "sheen/notifications/locale/*/LC_MESSAGES/*.mo" in (ROOT / ".gitignore").read_text()


def test_temporary_restriction_needs_its_end_and_bad_values_are_refused():
    """A restriction without an end, or a word outside the fixed lists, is a payload error."""
    with pytest.raises(PayloadError, match="restricted_until"):
        parse_params(Category.TEMPORARY_RESTRICTION, {})
    with pytest.raises(PayloadError, match="content_kind"):
        parse_params(Category.CONTENT_VIOLATION, {"content_kind": "T05 spam"})
