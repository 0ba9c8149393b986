"""Inline SVG line plots of per-frame series over time, for the run report.

Why SVG text and no plotting library: the report is one offline HTML file, and an SVG written
here is small, sharp at any zoom, and needs no script or image encoding. Long series are cut to a
few hundred points by keeping each bucket's minimum and maximum, so peaks (a mouth that opens for
two frames) survive the downsampling.
"""
from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lipdub.qa.details import QADetails

#: Most points one line keeps (two per bucket: its minimum and maximum).
MAX_POINTS = 600

_WIDTH = 900
_HEIGHT = 250
_MARGIN_LEFT = 52
_MARGIN_RIGHT = 56
_MARGIN_TOP = 30
_MARGIN_BOTTOM = 34
_SHADE_COLOR = "#f2c14e"
_AXIS_COLOR = "#666"
_GRID_COLOR = "#e4e4e4"


@dataclass(frozen=True)
class PlotLine:
    """One series to draw: a value per frame (NaN where unknown: the line has a gap there)."""

    label: str
    values: np.ndarray
    color: str
    css_class: str
    axis: Literal["left", "right"] = "left"
    width: float = 1.5
    opacity: float = 1.0


def minmax_downsample(values: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """``(frame positions, values)`` of at most ``max_points`` samples of ``values``.

    Each of ``max_points // 2`` buckets keeps its minimum and maximum (in time order); a bucket
    with no finite value keeps one NaN at its start, so gaps stay gaps.
    """
    values = np.asarray(values, np.float64)
    if len(values) <= max_points:
        return np.arange(len(values)), values
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, len(values), buckets + 1).astype(np.int64)
    positions: list[int] = []
    kept: list[float] = []
    for start, stop in itertools.pairwise(edges):
        chunk = values[start:stop]
        finite = np.isfinite(chunk)
        if not finite.any():
            positions.append(int(start))
            kept.append(math.nan)
            continue
        masked = np.where(finite, chunk, np.nan)
        low, high = int(np.nanargmin(masked)), int(np.nanargmax(masked))
        for index in sorted({low, high}):
            positions.append(int(start) + index)
            kept.append(float(chunk[index]))
    return np.asarray(positions, np.int64), np.asarray(kept, np.float64)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    ratio = raw / magnitude  # in [1, 10): round to the nearest of 1, 2, 5, 10
    step = magnitude * (1 if ratio < 1.5 else 2 if ratio < 3 else 5 if ratio < 7 else 10)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _value_range(arrays: Sequence[np.ndarray], *, include_zero: bool) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return 0.0, 1.0
    low = min(float(a.min()) for a in finite)
    high = max(float(a.max()) for a in finite)
    if include_zero:
        low = min(low, 0.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    return (low if include_zero and low == 0.0 else low - pad), high + pad


def _shaded_runs(mask: np.ndarray, merge_gap: float) -> list[tuple[int, int]]:
    """``[start, stop)`` frame runs where ``mask`` is set; runs closer than ``merge_gap`` frames
    merge (a pixel cannot show the gap, and thousands of rects would bloat the page)."""
    padded = np.concatenate([[0], np.asarray(mask, np.int8), [0]])
    changes = np.flatnonzero(np.diff(padded))
    runs: list[tuple[int, int]] = []
    for start, stop in zip(changes[0::2], changes[1::2]):
        if runs and start - runs[-1][1] < merge_gap:
            runs[-1] = (runs[-1][0], int(stop))
        else:
            runs.append((int(start), int(stop)))
    return runs


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tick_label(value: float) -> str:
    return f"{value:g}"


def time_series_svg(
    lines: Sequence[PlotLine], fps: float, *, shaded: np.ndarray | None = None, shaded_label: str = "",
    left_label: str = "", right_label: str = "", title: str = "", max_points: int = MAX_POINTS,
) -> str:
    """An SVG (one string) of ``lines`` over time in seconds, with ``shaded`` frames highlighted.

    Left-axis and right-axis lines each get their own y scale. Every line is one or more
    ``<polyline class="{css_class}">`` (split at NaN gaps); an empty plot says so in its text.
    """
    n_frames = max((len(line.values) for line in lines), default=0)
    plot_w = _WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    plot_h = _HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="series-plot" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
         f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{html.escape(title)}" '
         'font-family="sans-serif" font-size="11">'),
        f"<title>{html.escape(title)}</title>",
    ]
    if n_frames == 0 or not math.isfinite(fps) or fps <= 0:
        parts.append(f'<text class="no-data" x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle" '
                     f'fill="{_AXIS_COLOR}">no series recorded</text></svg>')
        return "".join(parts)

    duration = n_frames / fps

    def x_of(frame: float) -> float:
        return _MARGIN_LEFT + plot_w * (frame / fps) / duration

    ranges = {
        axis: _value_range([line.values for line in lines if line.axis == axis], include_zero=axis == "left")
        for axis in ("left", "right")
    }

    def y_of(value: float, axis: str) -> float:
        low, high = ranges[axis]
        return _MARGIN_TOP + plot_h * (1.0 - (value - low) / (high - low))

    # Shaded frames first, so the lines draw over them.
    if shaded is not None and np.any(shaded):
        for start, stop in _shaded_runs(np.asarray(shaded, bool), merge_gap=n_frames / plot_w):
            x0, x1 = x_of(start), x_of(stop)
            parts.append(f'<rect class="shaded" x="{_fmt(x0)}" y="{_MARGIN_TOP}" width="{_fmt(max(x1 - x0, 0.5))}" '
                         f'height="{plot_h}" fill="{_SHADE_COLOR}" fill-opacity="0.3"/>')

    # Grid and axes.
    bottom = _MARGIN_TOP + plot_h
    right = _MARGIN_LEFT + plot_w
    for tick in nice_ticks(0.0, duration, 8):
        x = x_of(tick * fps)
        parts.append(f'<line x1="{_fmt(x)}" y1="{_MARGIN_TOP}" x2="{_fmt(x)}" y2="{bottom}" stroke="{_GRID_COLOR}"/>')
        parts.append(f'<text x="{_fmt(x)}" y="{bottom + 14}" text-anchor="middle" fill="{_AXIS_COLOR}">{_tick_label(tick)}</text>')
    parts.append(f'<text x="{_MARGIN_LEFT + plot_w / 2}" y="{_HEIGHT - 4}" text-anchor="middle" fill="{_AXIS_COLOR}">seconds</text>')
    for axis, x, anchor in (("left", _MARGIN_LEFT - 4, "end"), ("right", right + 4, "start")):
        if not any(line.axis == axis for line in lines):
            continue
        for tick in nice_ticks(*ranges[axis], 4):
            y = y_of(tick, axis)
            if axis == "left":
                parts.append(f'<line x1="{_MARGIN_LEFT}" y1="{_fmt(y)}" x2="{right}" y2="{_fmt(y)}" stroke="{_GRID_COLOR}"/>')
            parts.append(f'<text x="{x}" y="{_fmt(y + 4)}" text-anchor="{anchor}" fill="{_AXIS_COLOR}">{_tick_label(tick)}</text>')
    parts.append(f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{_AXIS_COLOR}"/>')
    if left_label:
        parts.append(f'<text x="4" y="{_MARGIN_TOP - 8}" fill="{_AXIS_COLOR}">{html.escape(left_label)}</text>')
    if right_label:
        parts.append(f'<text x="{_WIDTH - 4}" y="{_MARGIN_TOP - 8}" text-anchor="end" fill="{_AXIS_COLOR}">{html.escape(right_label)}</text>')

    for line in lines:
        parts.extend(_polylines(line, x_of, lambda v, axis=line.axis: y_of(v, axis), max_points))
    parts.append(_legend(lines, shaded_label if shaded is not None and np.any(shaded) else ""))
    parts.append("</svg>")
    return "".join(parts)


def _polylines(line: PlotLine, x_of: Callable[[float], float], y_of: Callable[[float], float], max_points: int) -> list[str]:
    positions, values = minmax_downsample(np.asarray(line.values, np.float64), max_points)
    finite = np.isfinite(values)
    out = []
    index = 0
    while index < len(values):
        if not finite[index]:
            index += 1
            continue
        stop = index
        while stop < len(values) and finite[stop]:
            stop += 1
        points = [f"{_fmt(x_of(p))},{_fmt(y_of(v))}" for p, v in zip(positions[index:stop], values[index:stop])]
        if len(points) == 1:
            points.append(points[0])  # a lone sample: round caps draw it as a dot
        out.append(f'<polyline class="{line.css_class}" points="{" ".join(points)}" fill="none" stroke="{line.color}" '
                   f'stroke-width="{line.width}" stroke-opacity="{line.opacity}" stroke-linejoin="round" stroke-linecap="round"/>')
        index = stop
    return out


def _legend(lines: Sequence[PlotLine], shaded_label: str) -> str:
    parts = ['<g class="legend">']
    x = _MARGIN_LEFT + 90
    y = 12
    for line in lines:
        label = line.label + (" (right axis)" if line.axis == "right" else "")
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{line.color}" stroke-width="{max(line.width, 2)}" '
                     f'stroke-opacity="{line.opacity}"/>')
        parts.append(f'<text x="{x + 22}" y="{y + 4}">{html.escape(label)}</text>')
        x += 30 + 6.2 * len(label)
    if shaded_label:
        parts.append(f'<rect x="{x}" y="{y - 6}" width="18" height="12" fill="{_SHADE_COLOR}" fill-opacity="0.3"/>')
        parts.append(f'<text x="{x + 22}" y="{y + 4}">{html.escape(shaded_label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def qa_series_svg(details: QADetails, *, max_points: int = MAX_POINTS) -> str:
    """The report's plot of one item: the output's mouth opening and the dub's loudness over time,
    the source's opening as a faint line, frames the renderer edited shaded."""
    lines = [
        PlotLine("source opening", details.source_opening, "#7f7f7f", "series-source-opening", width=1.2, opacity=0.45),
        PlotLine("output opening", details.opening, "#1f5fbf", "series-opening", width=1.6),
        PlotLine("dub loudness, dB", details.dub_loudness, "#d0402b", "series-loudness", axis="right", width=1.1, opacity=0.85),
    ]
    return time_series_svg(lines, details.fps, shaded=details.edited, shaded_label="edited frames",
                           left_label="mouth opening", right_label="dB", title="mouth opening and dub loudness over time",
                           max_points=max_points)
