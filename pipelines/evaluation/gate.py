"""`lipdub eval gate`: how well the QA gate tells good dubs from bad ones, on ../shared/media.

Two sets, measured in one run with the same gate:

- dubbed (should pass): every clip of catalog.csv dubbed with its foreign track by the full
  pipeline (QA stage included; ``--force``, so each item is measured now);
- untouched (should be flagged): each clip's own picture with the same foreign dub laid over it
  (stream copy; the dub cut or padded to the video), checked with `lipdub qa`. It is out of sync
  by construction.

Flagged = needs_review. Precision and recall treat "untouched" as the positive class; they are
given for the whole gate and for its sync checks alone, because an untouched output also trips
the "edited in only 0% of frames" check, which says nothing about whether the gate hears sync.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lipdub.audio.features import SAMPLE_RATE
from lipdub.catalog import write_catalog
from lipdub.config import PipelineConfig
from lipdub.media.audio_io import load_audio
from lipdub.media.mux import mux_segments
from lipdub.qa.gate import failed_checks
from lipdub.qa.standalone import qa_output
from lipdub.results import read_results
from pipelines.evaluation.shared_media import shared_catalog_rows

log = logging.getLogger(__name__)

# Figures kept per item in the report (the rest stay in the results manifest).
KEY_FIGURES = ("sync_corr", "av_offset_frames", "sync_corr_at_offset", "edited_share", "outside_psnr_db", "seam_score", "flicker_ratio",
               "jitter_ratio", "source_sync_corr", "source_av_offset_frames")


def _entry(item_id: str, figures: dict[str, Any], config: PipelineConfig) -> dict[str, Any]:
    checks = failed_checks(figures, config.qa)
    return {
        "item_id": item_id,
        **{key: figures.get(key) for key in KEY_FIGURES},
        "flagged": bool(checks),
        "flagged_by_sync": any(name == "sync" for name, _ in checks),
        "reasons": [reason for _, reason in checks],
    }


def _scores(dubbed: list[dict[str, Any]], untouched: list[dict[str, Any]], key: str) -> dict[str, Any]:
    true_positive = sum(item[key] for item in untouched)
    false_positive = sum(item[key] for item in dubbed)
    false_negative = len(untouched) - true_positive
    flagged = true_positive + false_positive
    return {
        "precision": true_positive / flagged if flagged else float("nan"),
        "recall": true_positive / len(untouched) if untouched else float("nan"),
        "untouched_flagged": f"{true_positive}/{len(untouched)}",
        "dubbed_flagged": f"{false_positive}/{len(dubbed)}",
        "missed": false_negative,
    }


def dubbed_entries(shared_media: Path, out_dir: Path, config: PipelineConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the shared catalog through the pipeline; QA entries of ok items, and the failed ones."""
    from pipelines.catalog_run import run_catalog
    from pipelines.ray_adapter import ensure_ray

    catalog = out_dir / "catalog.parquet"
    write_catalog(shared_catalog_rows(shared_media), str(catalog))
    ensure_ray()
    summary = run_catalog(str(catalog), output_root=str(out_dir / "dubbed"), config=config, force=True)
    rows = read_results(summary.results_uri)
    entries = [_entry(row["item_id"], json.loads(row["qa_figures"]), config) for row in rows if row["status"] == "ok"]
    failed = [{"item_id": row["item_id"], "status": row["status"], "error": row["error"]} for row in rows if row["status"] != "ok"]
    return entries, failed


def untouched_entries(shared_media: Path, out_dir: Path, config: PipelineConfig) -> list[dict[str, Any]]:
    entries = []
    folder = out_dir / "untouched"
    folder.mkdir(parents=True, exist_ok=True)
    for row in shared_catalog_rows(shared_media):
        output = folder / f"{row['item_id']}.mp4"
        mux_segments([row["video_uri"]], load_audio(row["audio_uri"], sample_rate=SAMPLE_RATE), SAMPLE_RATE, str(output))
        # Stream copy of the whole picture: the "silence" timeline (video length, dub padded or cut).
        report, _ = qa_output(str(output), source=row["video_uri"], dub=row["audio_uri"], sync_mode="silence", config=config.qa)
        entries.append(_entry(row["item_id"], report, config))
        log.info("untouched %s: %s", row["item_id"], entries[-1]["reasons"])
    return entries


def run_gate_eval(shared_media: Path, out_dir: Path, work_root: str | None = None) -> dict[str, Any]:
    config = PipelineConfig().with_overrides(work_root=work_root)
    dubbed, failed = dubbed_entries(shared_media, out_dir, config)
    untouched = untouched_entries(shared_media, out_dir, config)
    report = {
        "thresholds": {key: value for key, value in vars(config.qa).items()},
        "gate": _scores(dubbed, untouched, "flagged"),
        "sync_checks_only": _scores(dubbed, untouched, "flagged_by_sync"),
        "dubbed": dubbed,
        "dubbed_not_ok": failed,
        "untouched": untouched,
    }
    (out_dir / "gate_eval.json").write_text(json.dumps(report, indent=2, default=float))
    return report
