import math

from lipdub.config import QAConfig
from lipdub.qa.gate import review_reasons


def good_figures(**changes):
    figures = {
        "frames": 100, "planned_frames": 100, "fps": 25.0, "planned_fps": 25.0, "fps_matches": True,
        "video_seconds": 4.0, "has_audio": True, "audio_seconds": 4.0, "av_offset_frames": 1.0, "av_offset_ms": 40.0, "sync_corr": 0.6, "sync_corr_at_offset": 0.65,
        "speaker_found_share": 1.0, "mouth_measured_share": 1.0, "edited_share": 0.9,
        "outside_psnr_db": 42.0, "seam_score": 0.05, "flicker_ratio": 1.1, "jitter_ratio": 1.2,
        "source_av_offset_frames": 0.0, "source_av_offset_ms": 0.0, "source_sync_corr": 0.7, "source_sync_corr_at_offset": 0.7,
    }
    figures.update(changes)
    return figures


def test_a_good_output_passes():
    assert review_reasons(good_figures()) == []


def test_each_problem_gives_its_own_readable_reason():
    cases = {
        "frames": (dict(frames=90), "90 frames, planned 100"),
        "fps": (dict(fps_matches=False, fps=30.0), "frame rate 30.000"),
        "audio": (dict(has_audio=False), "no audio track"),
        "track gap": (dict(audio_seconds=3.5), "audio runs 3.50 s"),
        "sync": (dict(sync_corr=0.1), "does not follow the dub"),
        "offset": (dict(av_offset_frames=-4.0, av_offset_ms=-160.0, sync_corr_at_offset=0.8), "mouth leads the dub by 4 frames, 160 ms"),
        "unmeasured": (dict(sync_corr=math.nan), "could not be measured"),
        "short": (dict(video_seconds=1.2, audio_seconds=1.2, sync_corr=-0.5), "too short to judge lip sync: 1.2 s"),
        "found": (dict(speaker_found_share=0.3), "found in only 30%"),
        "edited": (dict(edited_share=0.2), "edited in only 20%"),
        "psnr": (dict(outside_psnr_db=30.0), "PSNR 30.0 dB"),
        "seam": (dict(seam_score=0.6), "visible blend seam: +60%"),
        "flicker": (dict(flicker_ratio=3.0), "mouth flickers: 3.0x"),
        "jitter": (dict(jitter_ratio=4.0), "jitters: 4.0x"),
        "source": (dict(source_av_offset_frames=5.0, source_av_offset_ms=200.0, source_sync_corr=0.2, source_sync_corr_at_offset=0.8), "source itself is out of sync: its mouth lags its own speech by 5 frames, 200 ms"),
    }
    for name, (changes, text) in cases.items():
        reasons = review_reasons(good_figures(**changes))
        assert len(reasons) == 1 and text in reasons[0], (name, reasons)


def test_source_offset_is_judged_only_where_its_sync_is_clear():
    assert review_reasons(good_figures(source_av_offset_frames=6.0, source_av_offset_ms=240.0, source_sync_corr_at_offset=0.1)) == []


def test_an_offset_counts_only_where_it_clearly_beats_zero():
    # A best offset a few hundredths above zero's correlation is noise on a short clip.
    assert review_reasons(good_figures(av_offset_frames=9.0, av_offset_ms=360.0, sync_corr=0.27, sync_corr_at_offset=0.33)) == []
    assert review_reasons(good_figures(source_av_offset_frames=5.0, source_av_offset_ms=200.0, source_sync_corr=0.75,
                                       source_sync_corr_at_offset=0.8)) == []


def test_thresholds_come_from_config():
    strict = QAConfig(min_sync_corr=0.8, max_seam_score=0.01)
    assert len(review_reasons(good_figures(), strict)) == 2
    assert review_reasons(good_figures(outside_psnr_db=float("inf"))) == []  # identical pictures
