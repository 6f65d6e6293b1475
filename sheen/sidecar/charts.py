"""Inline SVG charts drawn on the server: no script, no CDN, readable offline.

This module computes the geometry; `templates/_charts.html` draws it (Jinja escapes
every value). Each chart carries `data-chart`, each bar or point its numbers as
`data-*` attributes, so a test (or a curious operator) can read them from the DOM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sheen.services.trends import Bucket, DepthPoint

WIDTH = 360
HEIGHT = 80
PAD = 14
BASE = HEIGHT - PAD
RUNS, FAILURES, DEAD = "#8aa4c8", "#c43c3c", "#7b3fa0"


@dataclass(frozen=True)
class Bar:
    bucket: Bucket
    label: str
    x: float
    width: float
    runs_height: float
    failures_height: float
    dead_y: float | None


@dataclass(frozen=True)
class BarChart:
    name: str
    bars: list[Bar]
    peak: int
    first: str
    last: str


@dataclass(frozen=True)
class Point:
    sample: DepthPoint
    x: float
    y: float


@dataclass(frozen=True)
class LineChart:
    name: str
    points: list[Point]
    peak: int
    first: str
    last: str

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _scale(peak: int) -> float:
    return (HEIGHT - 2 * PAD) / peak if peak > 0 else 0.0


def bars(name: str, buckets: Sequence[Bucket], fmt: str) -> BarChart:
    """Runs as bars, failures as a red bar inside, dead letters as a purple tick."""
    peak = max([b.runs for b in buckets] + [b.dead_letters for b in buckets] + [1])
    scale = _scale(peak)
    step = (WIDTH - 2 * PAD) / max(len(buckets), 1)
    drawn = [
        Bar(
            bucket=b,
            label=b.start.strftime(fmt),
            x=round(PAD + i * step, 1),
            width=round(max(step - 2, 1), 1),
            runs_height=round(b.runs * scale, 1),
            failures_height=round(b.failures * scale, 1),
            dead_y=round(BASE - b.dead_letters * scale - 1, 1) if b.dead_letters else None,
        )
        for i, b in enumerate(buckets)
    ]
    first = drawn[0].label if drawn else ""
    last = drawn[-1].label if drawn else ""
    return BarChart(name=name, bars=drawn, peak=peak, first=first, last=last)


def line(name: str, samples: Sequence[DepthPoint], start: datetime, end: datetime) -> LineChart:
    """Queue depth over [start, end]: a polyline with a dot per sample."""
    peak = max([p.depth for p in samples] + [1])
    scale = _scale(peak)
    span = max((end - start).total_seconds(), 1.0)
    points = [
        Point(
            sample=p,
            x=round(PAD + (WIDTH - 2 * PAD) * (p.at - start).total_seconds() / span, 1),
            y=round(BASE - p.depth * scale, 1),
        )
        for p in samples
    ]
    return LineChart(
        name=name, points=points, peak=peak, first=f"{start:%H:%M}", last=f"{end:%H:%M} UTC"
    )
