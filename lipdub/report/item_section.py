"""One item's section of the report: outcome, reasons, before/after thumbnails, mouth sheet, plot.

Every string from the data (ids, URIs, errors, reasons, figure names) is HTML-escaped here;
images go in as ``data:`` URIs of the JPEG bytes the QA stage stored (nothing is linked).
"""
from __future__ import annotations

import base64
from html import escape
from typing import Any

from lipdub.qa.details import QADetails
from lipdub.report import fields
from lipdub.report.plots import MAX_POINTS, qa_series_svg
from lipdub.report.sources import ItemDetails
from lipdub.report.table import anchor_id

_JPEG_MAGIC = b"\xff\xd8"


def jpeg_data_uri(data: bytes | None) -> str | None:
    """``data:image/jpeg;base64,...`` of JPEG bytes; None for anything that is not a JPEG."""
    if not data or not data.startswith(_JPEG_MAGIC):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _time_label(frame: int, fps: float) -> str:
    return f"frame {frame} \u00b7 {frame / fps:.2f} s" if fps > 0 else f"frame {frame}"


def _thumbnails(details: QADetails) -> str:
    pairs = []
    for frame, before, after in zip(details.thumb_frames.tolist(), details.thumbs_before, details.thumbs_after):
        sides = []
        for label, css, data in (("source", "thumb-before", before), ("output", "thumb-after", after)):
            uri = jpeg_data_uri(data)
            image = (f'<img class="{css}" src="{uri}" alt="{label} at output frame {frame}">' if uri
                     else f'<span class="{css} unreadable">unreadable image</span>')
            sides.append(f'<div class="side">{image}<span>{label}</span></div>')
        pairs.append(f'<figure class="thumb-pair"><div class="pair">{"".join(sides)}</div>'
                     f"<figcaption>{escape(_time_label(frame, details.fps))}</figcaption></figure>")
    if not pairs:
        return '<p class="no-thumbs">no thumbnails recorded</p>'
    return f'<div class="thumbs">{"".join(pairs)}</div>'


def _mouth_sheet(details: QADetails) -> str:
    uri = jpeg_data_uri(details.mouth_sheet)
    if uri is None:
        return '<p class="no-mouth-sheet">no mouth sheet (the speaker was never seen)</p>'
    frames = details.mouth_sheet_frames.tolist()
    span = f" at output frames {frames[0]}\u2013{frames[-1]}" if frames else ""
    return (f'<figure class="mouth-sheet"><img src="{uri}" alt="mouth crops over time">'
            f"<figcaption>Mouth crops{escape(span)}: top row source, bottom row output.</figcaption></figure>")


def _figures_table(row: dict[str, Any]) -> str:
    figures = fields.qa_figures(row)
    if not figures:
        return ""
    rows = "".join(f"<tr><td>{escape(str(name))}</td><td>{escape(fields.figure_text(value))}</td></tr>"
                   for name, value in sorted(figures.items(), key=lambda item: str(item[0])))
    return f'<details class="figures"><summary>all QA figures ({len(figures)})</summary><table>{rows}</table></details>'


def _meta_line(row: dict[str, Any]) -> str:
    parts = []
    if row.get("language"):
        parts.append(f"language {row['language']}")
    frames, fps = fields.number(row.get("n_output_frames")), fields.fps_of(row)
    if frames is not None:
        parts.append(f"{int(frames)} output frames" + (f" at {fps:.3g} fps ({frames / fps:.1f} s)" if fps else ""))
    seconds = fields.total_seconds(row)
    if seconds is not None:
        parts.append(f"{seconds:.1f} s of work")
    if row.get("finished_at"):
        parts.append(f"finished {fields.when(row['finished_at'])}")
    return escape(" \u00b7 ".join(parts))


def _uris(row: dict[str, Any]) -> str:
    entries = [(label, row.get(key)) for label, key in
               (("video", "video_uri"), ("dub", "audio_uri"), ("output", "output_uri"), ("QA details", "qa_uri"))]
    items = "".join(f"<dt>{label}</dt><dd><code>{escape(str(value))}</code></dd>" for label, value in entries if value)
    return f'<dl class="uris">{items}</dl>' if items else ""


def _outcome(row: dict[str, Any]) -> str:
    status = fields.status_of(row)
    error = row.get("error")
    if status == "failed":
        stage = row.get("failed_stage") or "unknown"
        return (f'<div class="failure"><p>failed at stage <b class="failed-stage">{escape(str(stage))}</b></p>'
                f'<pre class="error">{escape(str(error or "(no error message)"))}</pre></div>')
    if error:
        return f'<div class="details-missing"><pre class="error">{escape(str(error))}</pre></div>'
    return ""


def item_section(index: int, row: dict[str, Any], loaded: ItemDetails, *, max_points: int = MAX_POINTS) -> str:
    """``<section class="item" id="item-N">`` for the index-th row."""
    status = fields.status_of(row)
    item_id = str(row.get("item_id") or "")
    review = fields.needs_review_label(row)
    badges = f'<span class="badge status-{escape(status)}">{escape(status)}</span>'
    if review == "yes":
        badges += '<span class="badge review">needs review</span>'
    reasons = fields.review_reasons(row)
    reason_list = (f'<ul class="reasons">{"".join(f"<li>{escape(reason)}</li>" for reason in reasons)}</ul>'
                   if reasons else "")
    if loaded.details is None:
        details_html = f'<div class="details-missing">{escape(loaded.problem or "no QA details")}</div>'
    else:
        details_html = (_thumbnails(loaded.details) + _mouth_sheet(loaded.details)
                        + f'<div class="plot">{qa_series_svg(loaded.details, max_points=max_points)}</div>')
    return (
        f'<section class="item" id="{anchor_id(index)}" data-status="{escape(status)}" data-item-id="{escape(item_id)}">'
        f'<h2><a href="#{anchor_id(index)}">{escape(item_id)}</a>{badges}</h2>'
        f'<p class="meta">{_meta_line(row)}</p>{_uris(row)}{_outcome(row)}{reason_list}{details_html}'
        f'{_figures_table(row)}<p><a class="top" href="#items">back to the table</a></p></section>'
    )
