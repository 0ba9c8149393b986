"""`lipdub estimate CATALOG`: output minutes, wall time and node-hours of a run, before it runs.

Reads the catalog, reads each source's frame count and rate and each dub's length from the
container headers (no decoding; a remote file is read in ranges, not downloaded), plans each
item's output timeline with the pipeline's own rule, then prices the work with
`lipdub.cost_model` on the cluster (a `ray up` YAML) or this machine.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from lipdub.catalog import read_catalog
from lipdub.config import PipelineConfig
from lipdub.cost_model import ClusterShape, StageRates, default_rates, estimate_run, rates_from_bench
from lipdub.errors import MissingInputError
from lipdub.storage import open_uri, uri_exists
from lipdub.timeline import plan_timeline

log = logging.getLogger(__name__)


def header_facts(uri: str) -> dict[str, Any]:
    """Frames, rate and seconds of the first video stream, or seconds of the first audio stream,
    from the container's header (an estimate needs no decoding)."""
    import av

    if not uri_exists(uri):
        raise MissingInputError(uri)
    with open_uri(uri, "rb") as handle, av.open(handle) as container:
        if container.streams.video:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            seconds = float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
            frames = int(stream.frames or round(seconds * fps))
            return {"frames": frames, "fps": fps, "seconds": seconds}
        stream = container.streams.audio[0]
        seconds = float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
        return {"seconds": seconds}


def plan_items(catalog_uri: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(items with their planned frames, rows that cannot run with the reason)."""
    planned, skipped = [], []
    # Outputs are not written: any output root does for rows without one.
    for row in read_catalog(catalog_uri, output_root="/lipdub-estimate").rows:
        if row.get("status") == "failed":
            skipped.append({"item_id": row["item_id"], "error": row["error"]})
            continue
        try:
            video, dub = header_facts(row["video_uri"]), header_facts(row["audio_uri"])
            timeline = plan_timeline(video["frames"], video["fps"], dub["seconds"], row.get("sync_mode"))
        except Exception as error:  # noqa: BLE001 - an unreadable input is reported, the rest estimated
            skipped.append({"item_id": row["item_id"], "error": str(error)})
            continue
        planned.append({"item_id": row["item_id"], "video_uri": row["video_uri"], "source_frames": video["frames"],
                        "output_frames": timeline.n_frames, "output_seconds": timeline.n_frames / video["fps"]})
    return planned, skipped


def run_estimate(catalog_uri: str, config: PipelineConfig, cluster_yaml: Path | None, rates_json: Path | None,
                 rates_on_gpu: bool) -> dict[str, Any]:
    items, skipped = plan_items(catalog_uri)
    if cluster_yaml is not None:
        cluster = ClusterShape.from_ray_cluster_yaml(yaml.safe_load(cluster_yaml.read_text()))
        where = str(cluster_yaml)
    else:
        cluster = ClusterShape.local(float(os.cpu_count() or 1))
        where = f"this machine ({os.cpu_count()} cores)"
    rates: StageRates = default_rates()
    if rates_json is not None:
        import json

        rates = rates_from_bench(json.loads(rates_json.read_text()), str(rates_json), gpu=rates_on_gpu)
    report = estimate_run(items, config, cluster, rates)
    report.update(cluster=where, skipped=skipped)
    return report


def describe(report: dict[str, Any]) -> list[str]:
    """The estimate as a person reads it."""
    lines = [
        f"{report['items']} items ({report['distinct_sources']} distinct sources), {report['output_minutes']:.1f} output minutes"
        + (f"; {len(report['skipped'])} rows cannot run" if report["skipped"] else ""),
        f"on {report['cluster']}: about {report['wall_seconds'] / 60:.1f} minutes of wall time"
        + (f" ({report['realtime_factor']:.2f}x real time)" if report["realtime_factor"] else ""),
    ]
    for name, figures in report["node_types"].items():
        if figures["core_seconds"] > 0:
            lines.append(f"  {name}: {figures['nodes']} nodes busy {figures['busy_s'] / 60:.1f} min, {figures['node_hours']:.2f} node-hours")
    lines.append(f"rates: {report['rates']} at {report['utilisation']:.0%} of the cores busy")
    lines.extend(f"note: {note}" for note in report["notes"])
    lines.extend(f"cannot run: {row['item_id']}: {row['error']}" for row in report["skipped"])
    return lines
