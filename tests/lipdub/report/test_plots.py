import itertools
import math
import xml.etree.ElementTree as ET

import numpy as np

from lipdub.qa.details import QADetails
from lipdub.report.plots import PlotLine, minmax_downsample, nice_ticks, qa_series_svg, time_series_svg

SVG = "{http://www.w3.org/2000/svg}"


def _polylines(svg: str, css_class: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)  # also proves the SVG is well-formed XML
    return [[tuple(map(float, point.split(","))) for point in line.get("points").split()]
            for line in root.iter(f"{SVG}polyline") if line.get("class") == css_class]


def _details(n_frames: int, fps: float = 25.0) -> QADetails:
    t = np.arange(n_frames) / fps
    return QADetails(fps=fps, opening=0.3 + 0.3 * np.sin(2 * np.pi * t), source_opening=0.2 + 0.1 * np.cos(t),
                     dub_loudness=-40 + 10 * np.sin(t), edited=(t > 1.0) & (t < 2.0))


def test_plot_has_a_line_per_series_and_shades_edited_frames():
    svg = qa_series_svg(_details(100))
    root = ET.fromstring(svg)
    for css_class in ("series-opening", "series-source-opening", "series-loudness"):
        lines = _polylines(svg, css_class)
        assert len(lines) == 1 and len(lines[0]) == 100
    shaded = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "shaded"]
    assert len(shaded) == 1
    legend = " ".join(text.text or "" for text in root.iter(f"{SVG}text"))
    assert "output opening" in legend and "dub loudness" in legend and "edited frames" in legend


def test_plot_x_axis_is_time_and_lines_stay_inside_the_plot():
    svg = qa_series_svg(_details(250))
    root = ET.fromstring(svg)
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert "seconds" in labels and "10" in labels  # 250 frames at 25 fps: ticks up to 10 s
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    points = [p for line in _polylines(svg, "series-loudness") for p in line]
    assert all(0 < x < width and 0 < y < height for x, y in points)
    xs = [x for x, _ in points]
    assert xs == sorted(xs)


def test_nan_gaps_split_a_line():
    details = _details(100)
    details.opening[30:40] = np.nan
    details.opening[70] = np.nan
    lines = _polylines(qa_series_svg(details), "series-opening")
    assert [len(line) for line in lines] == [30, 30, 29]


def test_lone_sample_between_gaps_is_still_drawn():
    values = np.full(20, np.nan)
    values[5] = 0.4
    svg = time_series_svg([PlotLine("x", values, "#000", "series-x")], 25.0)
    (line,) = _polylines(svg, "series-x")
    assert len(line) == 2 and line[0] == line[1]


def test_empty_and_all_nan_series_give_valid_svg():
    empty = QADetails(fps=25.0, opening=[], source_opening=[], dub_loudness=[], edited=[])
    root = ET.fromstring(qa_series_svg(empty))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "no-data"] == ["no series recorded"]
    assert not list(root.iter(f"{SVG}polyline"))

    unknown = QADetails(fps=25.0, opening=np.full(50, np.nan), source_opening=np.full(50, np.nan),
                        dub_loudness=np.full(50, -np.inf), edited=np.zeros(50, bool))
    root = ET.fromstring(qa_series_svg(unknown))
    assert not list(root.iter(f"{SVG}polyline"))
    assert "seconds" in [t.text for t in root.iter(f"{SVG}text")]


def test_long_series_are_downsampled_keeping_peaks():
    values = np.zeros(100_000)
    values[12_345] = 5.0  # a one-frame spike
    values[67_890] = -3.0
    positions, kept = minmax_downsample(values, 600)
    assert len(kept) <= 600
    assert kept.max() == 5.0 and kept.min() == -3.0
    assert positions[np.argmax(kept)] == 12_345
    assert np.all(np.diff(positions) > 0)
    svg = time_series_svg([PlotLine("x", values, "#000", "series-x")], 25.0, shaded=values > 0)
    assert sum(len(line) for line in _polylines(svg, "series-x")) <= 600
    assert len(svg) < 40_000


def test_downsampling_keeps_gaps():
    values = np.arange(10_000, dtype=float)
    values[4_000:6_000] = np.nan
    positions, kept = minmax_downsample(values, 200)
    assert np.isnan(kept).any()
    assert not np.isnan(kept[positions < 3_900]).any()


def test_many_short_edited_runs_merge_into_few_rects():
    edited = np.zeros(50_000, bool)
    edited[::2] = True  # every other frame: far more runs than pixels
    svg = time_series_svg([PlotLine("x", np.zeros(50_000), "#000", "series-x")], 25.0, shaded=edited, shaded_label="edited")
    rects = [r for r in ET.fromstring(svg).iter(f"{SVG}rect") if r.get("class") == "shaded"]
    assert 1 <= len(rects) <= 10


def test_labels_are_escaped():
    svg = time_series_svg([PlotLine("<b>&</b>", np.ones(10), "#000", "series-x")], 25.0, title="a < b & c")
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "a < b & c"
    assert "<b>&</b>" in [t.text for t in root.iter(f"{SVG}text")]


def test_nice_ticks():
    assert nice_ticks(0.0, 10.0, 5) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(-57.3, -12.1, 4) == [-50.0, -40.0, -30.0, -20.0]
    ticks = nice_ticks(0.0, 0.63, 4)
    assert ticks[0] == 0.0 and ticks[-1] <= 0.63 and all(math.isclose(b - a, 0.2) for a, b in itertools.pairwise(ticks))
