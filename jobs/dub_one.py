"""``lipdub dub``: the catalog pipeline over a one-item catalog (not a separate code path)."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from lipdub.config import PipelineConfig
from lipdub.item_row import empty_row
from operators.probe import InputCheck

log = logging.getLogger(__name__)


def dub_one(
    *,
    video: str,
    audio: str,
    output: str,
    sync_mode: str | None = None,
    speaker_point: str | None = None,
    transcript: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    video_codec: str | None = None,
    audio_mode: str | None = None,
    keep_original_audio: bool | None = None,
    work_root: str | None = None,
    ray_address: str | None = None,
    config: PipelineConfig | None = None,
    item_id: str = "clip",
    language: str | None = None,
) -> dict[str, Any]:
    """Dub one video and return its results row (status ok or failed with an error message)."""
    config = config or PipelineConfig()
    # Encode settings given on the command line win over the config's; the others stay.
    given = {"crf": crf, "preset": preset, "video_codec": video_codec, "audio": audio_mode, "keep_original_audio": keep_original_audio}
    encode = replace(config.encode, **{name: value for name, value in given.items() if value is not None})
    config = config.with_overrides(work_root=work_root, encode=encode)
    row = {
        "item_id": item_id,
        "video_uri": video,
        "audio_uri": audio,
        "output_uri": output,
        "sync_mode": sync_mode,
        "speaker_point": speaker_point,
        "transcript": transcript,
        "language": language,
    }
    # Bad input fails here, in the driver, before Ray's start-up (seconds) is paid.
    (checked,) = InputCheck(config).run_row(empty_row(**row))
    if checked["status"] == "failed":
        return checked
    # Only now the heavy imports (Ray, the stages' libraries): seconds of CPU on a small machine.
    from pipelines.dub_pipeline import run_items
    from pipelines.ray_adapter import ensure_ray

    ensure_ray(ray_address)
    log.info("dubbing %s with %s -> %s", video, audio, output)
    (result,) = run_items([row], config)
    if result["status"] == "ok":
        log.info("done: %s", output)
    return result
