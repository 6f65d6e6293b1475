"""Staging alert promotion: warn-only first, paging `promote_after_days` after a rule ships.

`deploy/alertmanager/promotion.yml` records the day each paging rule first shipped. From
it this module generates, inside deploy/alertmanager/alertmanager.yml between the
BEGIN/END markers, one Alertmanager route per ship day (staging, severity=page, those
alertnames -> the pager, `continue: true` so the warning receiver still gets them) gated
by a time interval that starts on ship day + promote_after_days (UTC). Before that day the
pager route is muted and staging stays warn-only; after it, staging pages.

    python -m sheen.alert_promotion            # check the generated part is current
    python -m sheen.alert_promotion --write    # regenerate it
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "deploy" / "alertmanager" / "promotion.yml"
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ROUTES_BEGIN = "    # BEGIN staging promotion routes (python -m sheen.alert_promotion --write)"
ROUTES_END = "    # END staging promotion routes"
INTERVALS_BEGIN = "# BEGIN staging promotion intervals (python -m sheen.alert_promotion --write)"
INTERVALS_END = "# END staging promotion intervals"
LAST_YEAR = 2199
MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip


def load_registry(path: Path = REGISTRY) -> tuple[int, dict[str, date]]:
    data = yaml.safe_load(path.read_text())
    days = int(data["promote_after_days"])
    shipped = {
        str(k): v if isinstance(v, date) else date.fromisoformat(v)
        for k, v in data["shipped"].items()
    }
    return days, shipped


def interval_name(promoted: date) -> str:
    return f"staging-pages-from-{promoted.isoformat()}"


def from_day(day: date) -> list[dict[str, Any]]:
    """Alertmanager time_intervals entries meaning "on or after `day`" (UTC), ORed."""
    entries: list[dict[str, Any]] = [{"years": [f"{day.year + 1}:{LAST_YEAR}"]}]
    if day.month < 12:
        entries.append({"years": [str(day.year)], "months": [f"{MONTHS[day.month]}:december"]})
    entries.append(
        {
            "years": [str(day.year)],
            "months": [MONTHS[day.month - 1]],
            "days_of_month": [f"{day.day}:31"],
        }
    )
    return entries


def is_active(entries: list[dict[str, Any]], moment: date) -> bool:
    """Evaluate the entries above for a day (the subset of Alertmanager's rules they use)."""

    def inside(spec: list[str], value: int, names: tuple[str, ...] = ()) -> bool:
        for item in spec:
            low, _, high = item.partition(":")
            lo = names.index(low) + 1 if names else int(low)
            hi = (names.index(high) + 1 if names else int(high)) if high else lo
            if lo <= value <= hi:
                return True
        return False

    return any(
        inside(e["years"], moment.year)
        and ("months" not in e or inside(e["months"], moment.month, MONTHS))
        and ("days_of_month" not in e or inside(e["days_of_month"], moment.day))
        for e in entries
    )


def plan(days: int, shipped: dict[str, date]) -> dict[date, list[str]]:
    """Promotion day -> the alertnames promoted that day."""
    groups: dict[date, list[str]] = defaultdict(list)
    for name, day in shipped.items():
        groups[day + timedelta(days=days)].append(name)
    return {d: sorted(names) for d, names in sorted(groups.items())}


def _dump(data: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=200)
    return [(" " * indent + line) if line else line for line in text.splitlines()]


def render(days: int, shipped: dict[str, date]) -> tuple[list[str], list[str]]:
    routes: list[str] = []
    intervals: list[str] = []
    for promoted, names in plan(days, shipped).items():
        routes.append(
            f"    # shipped {promoted - timedelta(days=days)}, paging in staging from {promoted}"
        )
        routes += _dump(
            [
                {
                    "receiver": "pager",
                    "matchers": [
                        'environment="staging"',
                        'severity="page"',
                        f'alertname=~"{"|".join(names)}"',
                    ],
                    "active_time_intervals": [interval_name(promoted)],
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                    "continue": True,
                }
            ],
            4,
        )
        intervals += _dump(
            [{"name": interval_name(promoted), "time_intervals": from_day(promoted)}], 2
        )
    return routes, intervals


def _replace(text: str, begin: str, end: str, body: list[str]) -> str:
    head, found, rest = text.partition(begin + "\n")
    if not found:
        raise SystemExit(f"marker not found in {CONFIG}: {begin}")
    _, found, tail = rest.partition(end + "\n")
    if not found:
        raise SystemExit(f"marker not found in {CONFIG}: {end}")
    return head + begin + "\n" + "".join(line + "\n" for line in body) + end + "\n" + tail


def generated_config(config: Path = CONFIG, registry: Path = REGISTRY) -> str:
    days, shipped = load_registry(registry)
    routes, intervals = render(days, shipped)
    text = config.read_text()
    text = _replace(text, ROUTES_BEGIN, ROUTES_END, routes)
    return _replace(text, INTERVALS_BEGIN, INTERVALS_END, intervals)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated part")
    args = parser.parse_args(argv)
    wanted = generated_config()
    if args.write:
        CONFIG.write_text(wanted)
        return 0
    if CONFIG.read_text() != wanted:
        print(f"{CONFIG} is stale: python -m sheen.alert_promotion --write", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
