"""The ``lipdub`` command line (typer). Commands only pick a config, apply overrides and call jobs."""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from jobs import catalog_options
from jobs import gc as gc_job

app = typer.Typer(
    help="lipdub: lip-sync dubbed speech onto video, one clip or a catalog, on Ray Data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

from jobs.logging_setup import setup_logging

log = logging.getLogger("lipdub")


@app.command()
def dub(
    video: str = typer.Option(..., "--video", help="Source video: a local path or fsspec URI (s3://...)."),
    audio: str = typer.Option(..., "--audio", help="Dubbed speech track: local path or fsspec URI."),
    output: str = typer.Option(..., "--output", help="Where to write the dubbed video; the extension picks the container (.mp4, .mov, .mkv)."),
    sync_mode: Optional[catalog_options.SyncMode] = catalog_options.SYNC_MODE,
    speaker_point: Optional[str] = typer.Option(None, "--speaker-point", help="X,Y pixel inside the speaker's face (default: automatic)."),
    transcript: Optional[str] = typer.Option(None, "--transcript", help="Transcript of English dub speech, for forced alignment."),
    language: Optional[str] = typer.Option(None, "--language", help="The dub's language (de, pt-BR, deu): tags the output's audio track."),
    crf: Optional[int] = typer.Option(None, help="x264 constant rate factor (lower is better quality; default: the config's, 18)."),
    preset: Optional[str] = typer.Option(None, help="x264/x265 preset (default: the config's, veryfast)."),
    video_codec: Optional[str] = typer.Option(None, "--video-codec", help="h264 (default), h265, or prores (ProRes 422 HQ, .mov/.mkv)."),
    audio_mode: Optional[str] = typer.Option(None, "--audio-mode", help="auto (default: copy the dub when its codec fits the container) or aac (always encode)."),
    keep_original_audio: bool = typer.Option(False, "--keep-original-audio", help="Add the source's own audio as a second track, not played by default."),
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Dub one video: re-animate the speaker's mouth to follow AUDIO and mux it in."""
    setup_logging(verbose)
    from jobs.dub_catalog import load_config_or_exit
    from jobs.dub_one import dub_one

    result = dub_one(
        video=video,
        audio=audio,
        output=output,
        sync_mode=sync_mode.value if sync_mode else None,
        speaker_point=speaker_point,
        transcript=transcript,
        language=language,
        crf=crf,
        preset=preset,
        video_codec=video_codec,
        audio_mode=audio_mode,
        keep_original_audio=keep_original_audio or None,
        work_root=work_root,
        ray_address=ray_address,
        config=load_config_or_exit(config_uri, None, motion_checkpoint),
    )
    if result["status"] != "ok":
        typer.echo(f"error: {result['error']}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"wrote {result['output_uri']} ({result['n_output_frames']} frames)")
    _echo_review(result)


def _echo_review(result: dict) -> None:
    """The QA gate's verdict for one finished item, as a person reads it."""
    reasons = json.loads(result.get("review_reasons") or "[]")
    if result.get("needs_review"):
        typer.echo("QA: needs review:\n" + "\n".join(f"- {reason}" for reason in reasons))
    elif result.get("needs_review") is not None:
        typer.echo(f"QA: passes (sync r {result.get('qa_sync_corr') or float('nan'):.2f})")


@app.command()
def train(
    sources: Optional[list[str]] = typer.Argument(None, help="A catalog manifest (Parquet file or prefix, or CSV), or video files: every distinct video is a training example (or --split)."),
    output: str = typer.Option(..., "--output", help="Checkpoint to write (local path or fsspec URI); resumed when it exists."),
    epochs: int = typer.Option(30, help="Total epochs (a resumed run trains up to this many)."),
    batch_size: int = typer.Option(32, help="Windows (2.56 s each) per step per worker."),
    learning_rate: float = typer.Option(1e-3, help="AdamW learning rate."),
    workers: int = typer.Option(1, help="Ray Train workers (data parallel); 0 trains in this process (no worker start-up, for small runs)."),
    gpu: bool = typer.Option(False, "--gpu", help="One GPU per worker."),
    wav2vec2: Optional[str] = typer.Option(None, "--wav2vec2", help="wav2vec2 checkpoint folder (path or URI): train on its embeddings too."),
    validation_videos: int = typer.Option(1, help="Videos held out for the validation score (0: none)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Leave out this video (file name without extension); repeatable."),
    checkpoint_every: int = typer.Option(10, help="Write the checkpoint every N epochs (and at the end)."),
    restart: bool = typer.Option(False, "--restart", help="Start over instead of resuming from OUTPUT."),
    seed: int = typer.Option(0, help="Random seed."),
    split: Optional[str] = typer.Option(None, "--split", help="Train on this group (train) of models/splits/people_split.json under --media instead of SOURCES."),
    media: Optional[str] = typer.Option(None, "--media", help="Shared media folder for --split, persons and licences (default ../shared/media)."),
    max_windows_per_person: int = typer.Option(0, help="Cap on training windows per person (0: none); people from --media's catalog and the split."),
    max_videos_per_person: int = typer.Option(0, help="Cap on videos per person, evenly spaced by name, applied before analysis (0: none)."),
    feature_noise: float = typer.Option(0.1, help="Gaussian noise added to the standardised inputs while training."),
    phones: bool = typer.Option(True, "--phones/--no-phones", help="Use the recognised (English) phones as inputs; --no-phones trains a phone-free model."),
    width_correlation_weight: float = typer.Option(0.0, help="Weight of the width-timing term (1 - Pearson r of mouth width per window)."),
    sync_check: bool = typer.Option(True, "--sync-check/--no-sync-check", help="Measure each video's own audio-video offset: shift or drop it."),
    min_sync_corr: float = typer.Option(0.15, help="Own sync correlation below which a video is dropped."),
    max_offset_ms: float = typer.Option(320.0, help="Own offsets beyond this are dropped rather than shifted."),
    show_dropped: bool = typer.Option(False, "--show-dropped", help="List each video's measured offset and keep/shift/drop decision, then exit without training."),
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train the learned mouth-motion model on a catalog's own speech and faces (Ray Train).
    Exit 0 trained, 2 unusable catalog, options or checkpoint."""
    setup_logging(verbose)
    import dataclasses
    import shlex
    import sys

    from pipelines.training_run import TrainRequest, people_and_licences, run_training, split_videos, sync_report
    from lipdub.catalog import CatalogError
    from lipdub.config import PipelineConfig, load_config
    from lipdub.errors import InputError
    from models.motion_training import TrainSettings
    from models.people_split import DEFAULT_MEDIA
    from models.training_sync import SyncPolicy

    media_dir = media or str(DEFAULT_MEDIA)
    try:
        sources = split_videos(split, media_dir) if split else list(sources or [])
    except (InputError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    if not sources:
        typer.echo("error: give a catalog or video files, or --split GROUP", err=True)
        raise typer.Exit(code=2)
    people, licences = people_and_licences(media_dir)

    config = load_config(config_uri) if config_uri else PipelineConfig()
    config = config.with_overrides(work_root=work_root)
    if wav2vec2:
        config = dataclasses.replace(config, listen=dataclasses.replace(config.listen, wav2vec2_checkpoint=wav2vec2))
    request = TrainRequest(
        catalog_uri=sources[0] if len(sources) == 1 else sources,
        output_uri=output,
        settings=TrainSettings(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed, feature_noise=feature_noise,
                              width_correlation_weight=width_correlation_weight),
        feature_kind="wav2vec2" if config.listen.wav2vec2_checkpoint else "logmel",
        phones=phones,
        workers=workers,
        use_gpu=gpu,
        validation_videos=validation_videos,
        checkpoint_every=checkpoint_every,
        restart=restart,
        exclude=tuple(exclude),
        command=shlex.join(["lipdub", *sys.argv[1:]]),
        sync=SyncPolicy(min_corr=min_sync_corr, max_offset_ms=max_offset_ms, enabled=sync_check),
        people=people,
        max_windows_per_person=max_windows_per_person,
        max_videos_per_person=max_videos_per_person,
        licences=licences,
    )
    if show_dropped:
        for entry in sync_report(request, config, ray_address=ray_address):
            typer.echo(json.dumps(entry, default=float))
        return
    try:
        report = run_training(request, config, ray_address=ray_address)
    except (CatalogError, InputError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(json.dumps({"checkpoint": report.output_uri, "epochs": report.epochs_done, "videos": report.videos,
                           "validation_videos": report.validation, "skipped": report.skipped, "final": report.final}, default=float))


@app.command("run")
def run_catalog_command(
    catalog: str = typer.Argument(..., help="Catalog manifest: a Parquet file, a prefix of Parquet files, or a CSV (local or s3://...)."),
    output_root: Optional[str] = catalog_options.OUTPUT_ROOT,
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    state_root: Optional[str] = catalog_options.STATE_ROOT,
    force: bool = catalog_options.FORCE,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Dub a catalog. Resumable: items finished before with the same inputs and settings are
    skipped, so a rerun after a crash or Ctrl-C does only what is left. Exit 0 all ok, 2 unusable
    catalog, 3 some items failed or were left pending (see the results manifest)."""
    setup_logging(verbose)
    from jobs.dub_catalog import exit_code, load_config_or_exit, run_catalog_cli

    summary = run_catalog_cli(
        catalog, config=load_config_or_exit(config_uri, work_root, motion_checkpoint), output_root=output_root,
        state_root=state_root, force=force, ray_address=ray_address,
    )
    typer.echo(summary.to_json())
    raise typer.Exit(code=exit_code(summary))


@app.command()
def nightly(
    catalog: str = typer.Argument(..., help="Catalog manifest (Parquet file or prefix, or CSV)."),
    output_root: Optional[str] = catalog_options.OUTPUT_ROOT,
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    state_root: Optional[str] = catalog_options.STATE_ROOT,
    lock_hours: float = catalog_options.LOCK_HOURS,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """The nightly run: dub only what is new or changed since the last run (and retry failures).
    Holds a lock under the state root so overlapping schedules do not run the catalog twice."""
    setup_logging(verbose)
    from jobs.dub_catalog import load_config_or_exit
    from jobs.nightly import run_nightly_cli

    raise typer.Exit(
        code=run_nightly_cli(
            catalog, output_root=output_root, config=load_config_or_exit(config_uri, work_root, motion_checkpoint), state_root=state_root,
            lock_hours=lock_hours, ray_address=ray_address,
        )
    )


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("lipdub-demo"), help="Folder for the sample inputs and the dubbed output."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Build a small sample of the project's own making (an animated face photo plus synthesized
    speech) and dub it end to end."""
    setup_logging(verbose)
    from jobs.demo import run_demo

    result = run_demo(out_dir)
    if result["status"] != "ok":
        typer.echo(f"error: {result['error']}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"demo output: {result['output_uri']}")
    typer.echo(f"contact sheet: {result['contact_sheet']}")
    _echo_review(result)


@contextlib.contextmanager
def _json_only_on_stdout(as_json: bool):
    """With --json, stdout carries the JSON alone: while the command works, what others print to
    stdout (Ray forwards lines such as "(raylet) WARNING: ... worker processes" there) goes to
    stderr."""
    if not as_json:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


@app.command("eval")
def evaluate(
    targets: list[str] = typer.Argument(..., help="OUTPUT video, or: holdout CLIP [CLIP ...], people --split test|validation, source-length, languages, loco CLIP [CLIP ...], motion [CLIPS_DIR], gate [SHARED_MEDIA_DIR]"),
    source: Optional[str] = typer.Option(None, help="Source video the OUTPUT was made from."),
    dub_audio: Optional[str] = typer.Option(None, "--dub", help="Dub track the OUTPUT was made with."),
    oracle_motion: bool = typer.Option(False, help="holdout: drive the renderer with the real mouth shapes (renderer-only error)."),
    epochs: int = typer.Option(30, help="loco: training epochs per fold."),
    out_dir: Optional[str] = typer.Option(None, "--out-dir", help="holdout/loco: keep the halves, models and outputs here."),
    split: Optional[str] = typer.Option(None, "--split", help="people/holdout: the people split's group (test, validation, train) instead of CLIPs."),
    checkpoint: list[str] = typer.Option([], "--checkpoint", help="people/source-length: LABEL=URI of a learned checkpoint to compare (repeatable; default v2=builtin:lipdub-motion-v2)."),
    fast: bool = typer.Option(False, "--fast", help="people: compare predicted mouth tracks, no rendering (for choices on validation)."),
    media: Optional[Path] = typer.Option(None, "--media", help="people: shared media folder (default ../shared/media)."),
    per_person: int = typer.Option(2, help="people: at most this many clips per person."),
    work_root: Optional[str] = typer.Option(None, help="Work store (default ~/.cache/lipdub/work)."),
    config_file: Optional[str] = typer.Option(None, "--config", help="people/holdout: settings file the dubs are rendered with (e.g. configs/gpu.yaml or render.compositor: torch); the motion model stays the protocol's."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    only: list[str] = typer.Option([], "--only", help="motion: evaluate only this clip (file name without extension); repeatable."),
    timing: bool = typer.Option(False, "--timing", help="motion: also time speech analysis + motion on a 60 s dub."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Measure quality. `lipdub eval holdout CLIP...`: the hold-out lip-sync protocol.
    `lipdub eval people --split test|validation` (or `holdout --split ...`): the protocol on the people
    split's group (v1, rules, untouched; real and generated apart).
    `lipdub eval source-length`: r on held-out clips of one person after calibrating on 1 frame, 2 s, 5 s, 30 s of their speech.
    `lipdub eval languages`: contact sheets of the shared clips' de/fr/ja/zh dubs (openings and closures while speaking).
    `lipdub eval loco CLIP...`: leave-one-clip-out training of the learned model, then the protocol.
    `lipdub eval motion [CLIPS_DIR]`: the motion models alone on measured mouths (no rendering).
    `lipdub eval gate [DIR]`: the QA gate's precision/recall on ../shared/media (dubbed vs untouched).
    `lipdub eval OUTPUT --source VIDEO --dub AUDIO`: the QA figures of one output (as `lipdub qa`)."""
    setup_logging(verbose)
    from lipdub.config import load_config

    with _json_only_on_stdout(as_json):
        if targets[0] == "people" or (targets[0] == "holdout" and split):
            from pipelines.evaluation.people import DEFAULT_CHECKPOINTS, run_people_eval
            from models.people_split import DEFAULT_MEDIA

            named = dict(item.split("=", 1) for item in checkpoint if "=" in item) or dict(DEFAULT_CHECKPOINTS)
            report = run_people_eval(split or "test", media=media or DEFAULT_MEDIA, checkpoints=named, per_person=per_person,
                                     fast=fast, work_root=work_root, out_dir=out_dir, base_config=load_config(config_file))
        elif targets[0] == "source-length":
            from pipelines.evaluation.source_length import run_source_length_eval
            from models.people_split import DEFAULT_MEDIA

            named = dict(item.split("=", 1) for item in checkpoint if "=" in item) or None
            report = run_source_length_eval(checkpoints=named, media=media or DEFAULT_MEDIA, work_root=work_root)
        elif targets[0] == "languages":
            from pipelines.evaluation.languages import run_language_sheets
            from models.people_split import DEFAULT_MEDIA

            named = dict(item.split("=", 1) for item in checkpoint if "=" in item)
            report = run_language_sheets(media or DEFAULT_MEDIA, Path(out_dir or tempfile.mkdtemp(prefix="lipdub-languages-")),
                                         motion_checkpoint=next(iter(named.values()), "default"), work_root=work_root)
        elif targets[0] == "loco":
            from pipelines.evaluation.loco import run_loco
            from models.motion_training import TrainSettings

            clips = targets[1:]
            if len(clips) < 3:
                typer.echo("error: give at least three clips: lipdub eval loco CLIP CLIP CLIP [...]", err=True)
                raise typer.Exit(code=2)
            report = run_loco(clips, out_dir=out_dir or tempfile.mkdtemp(prefix="lipdub-loco-"),
                              settings=TrainSettings(epochs=epochs), work_root=work_root, oracle_motion=oracle_motion)
        elif targets[0] == "gate":
            from pipelines.evaluation.gate import run_gate_eval

            media = Path(targets[1]) if len(targets) > 1 else Path(__file__).resolve().parents[1].parent / "shared" / "media"
            if not (media / "catalog.csv").exists():
                typer.echo(f"error: no catalog.csv under {media}: lipdub eval gate [SHARED_MEDIA_DIR]", err=True)
                raise typer.Exit(code=2)
            report = run_gate_eval(media, Path(out_dir or tempfile.mkdtemp(prefix="lipdub-gate-")), work_root=work_root)
        elif targets[0] == "motion":
            from models.eval_motion_holdout import CACHE_DIR, DEFAULT_CLIPS, evaluate, time_listen_and_move

            clips = Path(targets[1]) if len(targets) > 1 else DEFAULT_CLIPS
            report = {"correlations": evaluate(clips, list(only) or None, CACHE_DIR)}
            if timing:
                report["listen_and_move_seconds_60s_dub"] = time_listen_and_move(clips.parent / "dub_audio" / "en_long_60s.wav")
        elif targets[0] == "holdout":
            from pipelines.evaluation.holdout import run_holdout

            clips = targets[1:]
            if not clips:
                typer.echo("error: give at least one clip: lipdub eval holdout CLIP [CLIP ...]", err=True)
                raise typer.Exit(code=2)
            report = run_holdout(clips, oracle_motion=oracle_motion, work_root=work_root, out_dir=out_dir,
                                 base_config=load_config(config_file))
        else:
            if len(targets) != 1 or not source or not dub_audio:
                typer.echo("error: use lipdub eval OUTPUT --source VIDEO --dub AUDIO", err=True)
                raise typer.Exit(code=2)
            from lipdub.qa.standalone import qa_output

            report, _ = qa_output(targets[0], source=source, dub=dub_audio)
    if as_json:
        typer.echo(json.dumps(report, default=float))
    else:
        typer.echo(json.dumps(report, indent=2, default=float))


@app.command()
def qa(
    output: str = typer.Argument(..., help="Dubbed video to check (path or fsspec URI)."),
    source: str = typer.Option(..., help="Source video the OUTPUT was made from."),
    dub_audio: str = typer.Option(..., "--dub", help="Dub track the OUTPUT was made with."),
    sync_mode: Optional[str] = typer.Option(None, help="Timeline the OUTPUT was made with (default: as `lipdub dub`: bounce if the dub is longer, else cut_off)."),
    config: Optional[str] = typer.Option(None, help="YAML/JSON config file whose `qa` section sets the thresholds."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: figures, needs_review, reasons."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """The QA gate on one output: sync with the dub, coverage, seam, flicker, PSNR outside the
    lower face, length/frame rate, and the source's own sync. Exit 0 passes, 3 needs review,
    2 unusable input."""
    setup_logging(verbose)
    from lipdub.config import load_config
    from lipdub.errors import InputError
    from lipdub.qa.figures_json import figures_to_json
    from lipdub.qa.standalone import qa_output

    try:
        report, _ = qa_output(output, source=source, dub=dub_audio, sync_mode=sync_mode, config=load_config(config).qa)
    except (InputError, FileNotFoundError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2)
    if as_json:
        typer.echo(figures_to_json(report))
    else:
        typer.echo(figures_to_json({k: v for k, v in report.items() if k != "reasons"}, indent=2))
        verdict = "needs review:" if report["needs_review"] else "passes"
        typer.echo("\n".join([verdict] + [f"- {reason}" for reason in report["reasons"]]))
    raise typer.Exit(code=3 if report["needs_review"] else 0)


@app.command()
def report(
    results: str = typer.Argument(..., help="Results manifest of a run (results.parquet, or its run folder; local or fsspec URI)."),
    out: str = typer.Option("report.html", "--out", help="Where to write the page."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """One static HTML page for a run: a sortable, filterable table of items, and per item
    before/after thumbnails, a mouth contact sheet and mouth opening against the dub's loudness.
    Works offline, no server needed."""
    setup_logging(verbose)
    from jobs.report import run_report

    summary = run_report(results, out)
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def bench(
    seconds: float = typer.Option(60.0, help="Length of the benchmark clip."),
    shared_media: Optional[Path] = typer.Option(None, help="../shared/media folder to build the clip from (default: found beside the project, else the project's own sample)."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep the clip and outputs here."),
    warm: bool = typer.Option(False, "--warm", help="Also time the clip through stages already up (a running server's case), after a 5 s warm-up clip."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Time the full pipeline against a plain decode + libx264 re-encode of the same 1280x720 clip."""
    setup_logging(verbose)
    from jobs.bench import run_bench

    report = run_bench(seconds, _bench_media(shared_media), out_dir, warm=warm)
    typer.echo(json.dumps(report, indent=2, default=float))


def _bench_media(shared_media: Optional[Path]) -> Optional[Path]:
    """The given media folder, else ../shared/media beside the project when present, else None."""
    if shared_media is not None:
        return shared_media
    candidate = Path(__file__).resolve().parents[1].parent / "shared" / "media"
    return candidate if (candidate / "clips").is_dir() else None


@app.command("bench-memory")
def bench_memory(
    short_seconds: float = typer.Option(60.0, help="Length of the short clip."),
    long_seconds: float = typer.Option(600.0, help="Length of the long clip."),
    shared_media: Optional[Path] = typer.Option(None, help="../shared/media folder to build the clips from (default: found beside the project, else the project's own sample)."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep the clips and outputs here."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Peak memory of the whole pipeline for a short and a long clip, and their ratio (streaming check)."""
    setup_logging(verbose)
    from jobs.bench_memory import run_memory_bench

    report = run_memory_bench(short_seconds, long_seconds, _bench_media(shared_media), out_dir)
    typer.echo(json.dumps(report, indent=2, default=float))


@app.command()
def estimate(
    catalog: str = typer.Argument(..., help="Catalog manifest (Parquet file or prefix, or CSV; local path or URI)."),
    cluster: Optional[Path] = typer.Option(None, "--cluster", help="A `ray up` cluster YAML (e.g. ray_cluster.yaml): estimate for its node types. Default: this machine."),
    rates: Optional[Path] = typer.Option(None, "--rates", help="A `lipdub bench` JSON report: its per-stage rates instead of the built-in ones."),
    rates_on_gpu: bool = typer.Option(False, "--rates-on-gpu", help="The --rates report was measured on a GPU node: use it for the stages that ask for a GPU."),
    config_uri: Optional[str] = catalog_options.CONFIG,
    as_json: bool = typer.Option(False, "--json", help="Print the whole estimate as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Before a run: output minutes, expected wall time and node-hours per node type of CATALOG on
    the configured cluster (from lipdub bench's per-stage rates), so a team can choose CPU-only or
    a GPU pool for a nightly run."""
    setup_logging(verbose)
    from jobs.dub_catalog import catalog_errors_exit, load_config_or_exit
    from jobs.estimate import describe, run_estimate

    config = load_config_or_exit(config_uri, None)
    with catalog_errors_exit():
        try:
            report = run_estimate(catalog, config, cluster, rates, rates_on_gpu)
        except ValueError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from error
    typer.echo(json.dumps(report, indent=2, default=float) if as_json else "\n".join(describe(report)))


@app.command("bench-delivery")
def bench_delivery(
    seconds: float = typer.Option(10.0, help="Length of the benchmark clip."),
    full: bool = typer.Option(True, "--full/--transcode-only", help="Also time the whole lipdub dub in each format."),
    shared_media: Optional[Path] = typer.Option(None, help="../shared/media folder to build the clip from (default: found beside the project, else the project's own sample)."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep the clip and outputs here."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """What each delivery format (H.264/H.265 .mp4, ProRes .mov, H.264 .mkv) costs against H.264 .mp4, in one run."""
    setup_logging(verbose)
    from jobs.bench_delivery import run_delivery_bench

    report = run_delivery_bench(seconds, _bench_media(shared_media), out_dir, full)
    typer.echo(json.dumps(report, indent=2, default=float))


@app.command("bench-render")
def bench_render(
    seconds: float = typer.Option(10.0, help="Length of the benchmark clip (its frames are held in memory)."),
    render_cpus: float = typer.Option(1.0, help="Cores granted to the render stage (its OpenCV/torch threads)."),
    shared_media: Optional[Path] = typer.Option(None, help="../shared/media folder to build the clip from (default: found beside the project, else the project's own sample)."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep the clip, work files and segments here."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """The render stage alone: output frames per second per compositor (OpenCV, torch on CPU, torch on a GPU when there is one)."""
    setup_logging(verbose)
    from jobs.bench_render import run_render_bench

    report = run_render_bench(seconds, _bench_media(shared_media), out_dir, render_cpus)
    typer.echo(json.dumps(report, indent=2, default=float))


@app.command("bench-catalog")
def bench_catalog(
    shared_media: Optional[Path] = typer.Option(None, help="../shared/media folder (default: found beside the project)."),
    cpus: Optional[str] = typer.Option(None, help="Also run the catalog confined to these core counts, e.g. 1,2 or 1,4,8,16."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep catalogs, outputs and run records here."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Catalog throughput on ../shared/media, the analysis cache's saving (one source, three
    languages, with and without the cache) and, with --cpus, scaling over core counts."""
    setup_logging(verbose)
    from jobs.bench_catalog import run_catalog_bench

    if shared_media is None:
        shared_media = Path(__file__).resolve().parents[1].parent / "shared" / "media"
    if not (shared_media / "catalog.csv").exists():
        typer.echo(f"error: no catalog.csv under {shared_media} (give --shared-media)", err=True)
        raise typer.Exit(code=2)
    counts = [int(part) for part in cpus.split(",")] if cpus else None
    report = run_catalog_bench(shared_media, out_dir, counts)
    typer.echo(json.dumps(report, indent=2, default=float))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface Serve's HTTP proxy binds (0.0.0.0 exposes it on the network)."),
    port: int = typer.Option(8000, "--port"),
    config_uri: Optional[str] = catalog_options.CONFIG,
    work_root: Optional[str] = catalog_options.WORK_ROOT,
    ray_address: Optional[str] = catalog_options.RAY_ADDRESS,
    motion_checkpoint: Optional[str] = catalog_options.MOTION_CHECKPOINT,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Serve the HTTP API (/v1: dubs, batches, estimate; OpenAPI at /v1/openapi.json) on Ray Serve.

    Needs bearer tokens in the environment (LIPDUB_API_TENANT_TOKENS="acme=tok1,tok2;other=tok3",
    LIPDUB_API_TOKENS for the "default" tenant, LIPDUB_API_ADMIN_TOKENS to see every tenant) and,
    in the config's ``api:`` section, input_prefixes and output_root (per tenant under
    ``api.tenants``); LIPDUB_WEBHOOK_SECRET enables signed callbacks."""
    setup_logging(verbose)
    from jobs.dub_catalog import load_config_or_exit
    from jobs.serve_api import run_server

    config = load_config_or_exit(config_uri, work_root, motion_checkpoint)
    run_server(config, host=host, port=port, address=ray_address)


@app.command("bench-api")
def bench_api(
    dubs: int = typer.Option(6, help="Dubs POSTed at once for the 'held without errors' figure."),
    threads: int = typer.Option(8, help="Client threads calling GET /v1/dubs/{id} for the status-rate figure."),
    max_running: int = typer.Option(1, help="api.max_running for the run (requests executing at once)."),
    warm: bool = typer.Option(True, "--warm/--no-warm", help="api.warm_stages: one long-lived pipeline (default) or one per request."),
    out_dir: Optional[Path] = typer.Option(None, help="Keep inputs, outputs and records here."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """The HTTP API's figures: POST to first rendered segment and to done, status calls per second,
    and concurrent dubs held without errors. Listens on 127.0.0.1; run it under `unshare -n` on a
    shared machine (Serve's internal gRPC binds every interface)."""
    setup_logging(verbose)
    from jobs.bench_api import run_api_bench

    typer.echo(json.dumps(run_api_bench(dubs, threads, max_running, out_dir, warm), indent=2, default=float))


app.command("gc")(gc_job.gc_command)  # defined in jobs/gc.py, shared with `python -m jobs.gc`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
