"""The review gate: QA figures + thresholds -> readable reasons a person should look at an item.

An empty list means the item passes. Figures that could not be measured (NaN) are reasons too
where they matter (sync): "we could not check" must not read as "fine".
"""
from __future__ import annotations

import math
from typing import Any

from lipdub.config import QAConfig


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _structure(figures: dict[str, Any], config: QAConfig) -> list[str]:
    reasons = []
    if figures["frames"] != figures["planned_frames"]:
        reasons.append(f"output has {figures['frames']} frames, planned {figures['planned_frames']}")
    if not figures["fps_matches"]:
        reasons.append(f"output frame rate {figures['fps']:.3f} differs from the source's {figures['planned_fps']:.3f}")
    if not figures["has_audio"]:
        reasons.append("output has no audio track")
    elif abs(figures["audio_seconds"] - figures["video_seconds"]) > config.max_track_gap_s:
        reasons.append(f"audio runs {figures['audio_seconds']:.2f} s, video {figures['video_seconds']:.2f} s")
    return reasons


def _clear_offset(corr_at_zero: float, corr_at_offset: float, config: QAConfig) -> bool:
    return _finite(corr_at_offset) and corr_at_offset - (corr_at_zero if _finite(corr_at_zero) else 0.0) >= config.min_offset_gain


def _sync(figures: dict[str, Any], config: QAConfig) -> list[str]:
    corr, lag = figures["sync_corr"], figures["av_offset_frames"]
    if figures["video_seconds"] < config.min_sync_seconds:
        return [f"too short to judge lip sync: {figures['video_seconds']:.1f} s (at least {config.min_sync_seconds:.1f} s)"]
    if not _finite(corr):
        return ["sync with the dub could not be measured (mouth not found, or the dub is silent)"]
    reasons = []
    if corr < config.min_sync_corr:
        reasons.append(f"mouth does not follow the dub: sync r {corr:.2f} (minimum {config.min_sync_corr:.2f})")
    if abs(figures["av_offset_ms"]) > config.max_av_offset_ms and _clear_offset(corr, figures["sync_corr_at_offset"], config):
        side = "lags" if lag > 0 else "leads"
        reasons.append(f"mouth {side} the dub by {abs(lag):.0f} frames, {abs(figures['av_offset_ms']):.0f} ms "
                       f"(at most {config.max_av_offset_ms:.0f} ms)")
    return reasons


def _coverage(figures: dict[str, Any], config: QAConfig) -> list[str]:
    checks = [
        ("speaker_found_share", config.min_speaker_found_share, "the speaker was found in only {:.0%} of frames"),
        ("edited_share", config.min_edited_share, "the speaker's mouth was edited in only {:.0%} of frames"),
        ("mouth_measured_share", config.min_mouth_measured_share, "the output's mouth was measurable in only {:.0%} of frames"),
    ]
    return [text.format(figures[key]) for key, minimum, text in checks if figures[key] < minimum]


def _picture(figures: dict[str, Any], config: QAConfig) -> list[str]:
    reasons = []
    psnr = figures["outside_psnr_db"]
    if _finite(psnr) and psnr < config.min_outside_psnr_db:
        reasons.append(f"picture outside the lower face changed: PSNR {psnr:.1f} dB (minimum {config.min_outside_psnr_db:.0f})")
    limits = [
        ("seam_score", config.max_seam_score, "visible blend seam: {:+.0%} edge energy on the blend rim (at most {:+.0%})"),
        ("flicker_ratio", config.max_flicker_ratio, "mouth flickers: {:.1f}x the source's frame-to-frame change (at most {:.1f}x)"),
        ("jitter_ratio", config.max_jitter_ratio, "mouth shape jitters: {:.1f}x the source's (at most {:.1f}x)"),
    ]
    for key, maximum, text in limits:
        if _finite(figures[key]) and figures[key] > maximum:
            reasons.append(text.format(figures[key], maximum))
    return reasons


def _source(figures: dict[str, Any], config: QAConfig) -> list[str]:
    corr, lag = figures["source_sync_corr_at_offset"], figures["source_av_offset_frames"]
    offset_ms = figures["source_av_offset_ms"]
    if (_finite(corr) and corr >= config.source_sync_min_corr and abs(offset_ms) > config.max_source_av_offset_ms
            and _clear_offset(figures["source_sync_corr"], corr, config)):
        side = "lags" if lag > 0 else "leads"
        return [f"the source itself is out of sync: its mouth {side} its own speech by {abs(lag):.0f} frames, "
                f"{abs(offset_ms):.0f} ms (r {corr:.2f}); the dub was timed to the picture as it is"]
    return []


CHECKS = {"structure": _structure, "sync": _sync, "coverage": _coverage, "picture": _picture, "source": _source}


def failed_checks(figures: dict[str, Any], config: QAConfig | None = None) -> list[tuple[str, str]]:
    """(check, reason) for every failed check, checks in the order of ``CHECKS``."""
    config = config or QAConfig()
    return [(name, reason) for name, check in CHECKS.items() for reason in check(figures, config)]


def review_reasons(figures: dict[str, Any], config: QAConfig | None = None) -> list[str]:
    """Every reason this output needs a person, in a fixed order; [] when it passes."""
    return [reason for _, reason in failed_checks(figures, config)]
