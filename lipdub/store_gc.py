"""Garbage collection of a work store and its output root: `lipdub gc --older-than DAYS`.

What goes (each counted per kind, in files and bytes):

- ``analyses``: cached analyses (``<work_root>/analysis/<key>/``) that no run used within the
  window. "Used" is known two ways: a run's result rows name the analysis (``analysis_uri``,
  ``atlas_uri``, ``source_speech_uri``) and that run finished within the window or has not
  finished at all (no ``summary.json``: crashed, or still going); or the analysis was published or
  reused within the window (the analyze and listen stages rewrite its ``LAST_USED`` stamp on
  every reuse, `touch_last_used`, so items still in flight, not yet recorded, are covered too).
- ``node_cache``: this node's local copies of remote analyses (``LIPDUB_NODE_CACHE``) whose
  analysis goes or is gone, and copies of other stores' analyses idle for the window.
- ``publisher_leftovers``: on remote roots, version folders (``<key>/v-*/``) the ``COMPLETE``
  marker does not name (a publisher that lost the race and crashed before deleting its upload),
  and version folders with no marker at all (a publisher that crashed mid-upload).
- ``item_work_dirs``: per-item work dirs (``<work_root>/items/<name>/``: dub features, render plan,
  segments, QA details) that no run within the window or unfinished run names and that nothing
  wrote to within the window. A rerun writes them afresh; finished items are skipped on their
  run records and outputs, which gc never touches.
- ``temporaries``: staging files of writers that died: ``.<name>.partial-*`` (`atomic_output` on
  local disk), ``<name>.partial-<12 hex>`` (remote filesystems without atomic puts),
  ``.<key>.tmp-<8 hex>/`` (local `publish_directory`) and the node cache's ``.publish-*`` /
  ``.fetch-*`` staging folders.

Two ages protect concurrent work. Anything modified within ``temp_age_hours`` (default 24 h) is
never touched, whatever ``--older-than`` says: a writer that is still going (an analysis of a long
film stages for hours) keeps its temporaries. Everything else needs both no reference and no
modification within ``older_than_days``. Run records and outputs are never removed.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import fsspec

from lipdub.results import RESULTS_FILE, SUMMARY_FILE
from lipdub.run_state import PART_PREFIX, RUNS_DIR, STATE_DIR
from lipdub.storage import _ATOMIC_PUT_PROTOCOLS, filesystem_for, is_local, join_uri
from lipdub.work_store import COMPLETE_MARKER, _node_cache_entry, _node_cache_root, analysis_uri

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("analyses", "node_cache", "publisher_leftovers", "item_work_dirs", "temporaries")
LAST_USED_FILE = "LAST_USED"
DEFAULT_TEMP_AGE_HOURS = 24.0
ANALYSIS_DIR = "analysis"
ITEMS_DIR = "items"
# Columns of result rows that name work-store artifacts.
_ANALYSIS_COLUMNS = ("analysis_uri", "atlas_uri", "source_speech_uri")
_WORK_DIR_COLUMN = "work_dir"
# A run's records: <state_root>/runs/<run_id>/{part-NNNNN.parquet, results.parquet, summary.json}.
_RUN_FILE = re.compile(rf"(?:^|.*/){RUNS_DIR}/[^/]+/({PART_PREFIX}\d+\.parquet|{re.escape(RESULTS_FILE)}|{re.escape(SUMMARY_FILE)})")
_VERSION = re.compile(r"v-[0-9a-f]{16}")
# Temporary names, by the writer that makes them (see lipdub/storage.py and lipdub/work_store.py).
_LOCAL_PARTIAL = re.compile(r"\..+\.partial-[a-z0-9_]{8}.*")  # tempfile.mkstemp in _atomic_local
_REMOTE_PARTIAL = re.compile(r".+\.partial-[0-9a-f]{12}")  # _publish_remote on non-atomic stores
_STAGING_DIR = re.compile(r"\..+\.tmp-[0-9a-f]{8}")  # _publish_local_directory
_NODE_STAGING_DIR = re.compile(r"\.(publish|fetch)-.+")  # _new_node_cache_dir
_NODE_ENTRY = re.compile(r"[0-9a-f]{20}")  # _node_cache_entry
_THREADS = 16  # listing and deleting on object stores is latency-bound


class RunRecordsUnreadable(RuntimeError):
    """A run that may still need its artifacts has records gc cannot read: nothing is removed."""


# --- the last-used stamp (written by the pipeline) ------------------------------------------------


def touch_last_used(directory_uri: str) -> None:
    """Record that a cached analysis (or source-speech) directory was reused now.

    gc keeps what was used within its window, also by items whose results are not recorded yet.
    Best effort: a stamp that cannot be written costs only a warning (the run's result rows name
    the analysis too, once they are recorded)."""
    uri = join_uri(directory_uri, LAST_USED_FILE)
    try:
        fs = filesystem_for(uri)
        fs.pipe_file(fs._strip_protocol(uri), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode())
    except Exception as error:  # noqa: BLE001 - storage clients raise many types; never fail an item
        log.warning("cannot stamp %s as used: %s", uri, error)


# --- listings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One file (or, on local disk, directory) of a listing, relative to its root."""

    rel: str
    size: int
    mtime: float
    is_dir: bool = False


@dataclass
class Tree:
    """A root's listing: its filesystem, stripped base path and entries."""

    fs: fsspec.AbstractFileSystem
    base: str
    entries: list[Entry]
    local: bool
    uri: str

    def path(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base


def _mtime(info: dict[str, Any]) -> float:
    """Modification time (epoch seconds) from an fsspec info dict; 0 when the store gives none."""
    for key in ("mtime", "LastModified", "last_modified", "modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return 0.0


def list_tree(uri: str) -> Tree:
    """Everything under `uri` in one listing (one paginated LIST on object stores)."""
    fs = filesystem_for(uri)
    base = fs._strip_protocol(uri).rstrip("/")
    fs.invalidate_cache(base)
    local = is_local(uri)
    if not fs.exists(base):
        return Tree(fs, base, [], local, uri)
    # Local directories are listed too: an empty staging folder is a leftover as well.
    infos = fs.find(base, withdirs=local, detail=True)
    entries = []
    for name, info in infos.items():
        name = name.rstrip("/")
        if name == base or not name.startswith(base + "/"):
            continue
        is_dir = info.get("type") == "directory"
        entries.append(Entry(name[len(base) + 1:], 0 if is_dir else int(info.get("size") or 0), _mtime(info), is_dir))
    return Tree(fs, base, entries, local, uri)


# --- what runs reference --------------------------------------------------------------------------


@dataclass
class RunReferences:
    """Analysis folders and item work dirs named by runs that may still need them."""

    analysis_uris: set[str] = field(default_factory=set)  # members of analysis folders
    work_dirs: set[str] = field(default_factory=set)
    finished_in_window: int = 0
    finished_before: int = 0
    unfinished: int = 0


@dataclass
class RunFolder:
    path: str  # stripped, on `fs`
    fs: fsspec.AbstractFileSystem
    record_files: list[str]  # stripped paths of part-*.parquet / results.parquet
    finished: bool
    last_activity: float


def find_runs(tree: Tree) -> list[RunFolder]:
    """Run folders (``.../runs/<run_id>/`` holding result parts, a manifest or a summary)."""
    by_folder: dict[str, list[Entry]] = defaultdict(list)
    for entry in tree.entries:
        if not entry.is_dir and _RUN_FILE.fullmatch(entry.rel):
            by_folder[entry.rel[: entry.rel.rindex("/")]].append(entry)
    runs = []
    for folder, entries in by_folder.items():
        names = {entry.rel.rsplit("/", 1)[-1] for entry in entries}
        records = [tree.path(entry.rel) for entry in entries if entry.rel.endswith(".parquet")]
        runs.append(RunFolder(tree.path(folder), tree.fs, records, SUMMARY_FILE in names, max(entry.mtime for entry in entries)))
    return runs


def _read_reference_rows(run: RunFolder) -> list[dict[str, Any]]:
    """The rows of a run that name artifacts it used (skipped rows name an earlier run's)."""
    import pyarrow.parquet as pq

    wanted = ("status",) + _ANALYSIS_COLUMNS + (_WORK_DIR_COLUMN,)
    rows: list[dict[str, Any]] = []
    for path in run.record_files:
        try:
            table = pq.read_table(path, filesystem=run.fs)
        except Exception as error:  # noqa: BLE001 - reported as one clear refusal below
            raise RunRecordsUnreadable(f"cannot read the run records {path}: {error}; nothing is removed") from error
        columns = [name for name in wanted if name in table.column_names]
        rows.extend(row for row in table.select(columns).to_pylist() if row.get("status") != "skipped")
    return rows


def collect_references(runs: list[RunFolder], cutoff: float) -> RunReferences:
    """References of every unfinished run and every run active since `cutoff`."""
    references = RunReferences()
    pinning = []
    for run in runs:
        if not run.finished:
            references.unfinished += 1
            pinning.append(run)
        elif run.last_activity >= cutoff:
            references.finished_in_window += 1
            pinning.append(run)
        else:
            references.finished_before += 1
    with ThreadPoolExecutor(_THREADS) as pool:
        for rows in pool.map(_read_reference_rows, pinning):
            for row in rows:
                references.analysis_uris.update(filter(None, (row.get(column) for column in _ANALYSIS_COLUMNS)))
                if row.get(_WORK_DIR_COLUMN):
                    references.work_dirs.add(row[_WORK_DIR_COLUMN])
    return references


def _names_under(uris: Iterable[str], tree: Tree, folder: str) -> set[str]:
    """The first path component under ``<tree>/<folder>/`` of each URI that lies there."""
    prefix = tree.path(folder) + "/"
    names = set()
    for uri in uris:
        if is_local(uri) != tree.local:
            continue  # another store's artifact
        path = tree.fs._strip_protocol(uri).rstrip("/")
        if path.startswith(prefix):
            names.add(path[len(prefix):].split("/", 1)[0])
    return names


# --- deciding ---------------------------------------------------------------------------------------


@dataclass
class Removal:
    """One thing to delete: a folder (recursively) or a single file, with what it holds."""

    kind: str
    tree: Tree | None  # None: a node-local path
    rel: str  # relative to the tree's base, or an absolute local path when tree is None
    files: int
    bytes: int
    is_dir: bool
    marker: str | None = None  # removed first, so readers stop trusting the folder at once
    idle_before: float | None = None  # re-checked just before deleting (a reuse since the listing)


@dataclass
class Group:
    """The entries of one folder directly under analysis/ or items/."""

    name: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def newest(self) -> float:
        return max((entry.mtime for entry in self.entries), default=0.0)


def _groups(tree: Tree, folder: str) -> dict[str, Group]:
    """Entries under ``<folder>/<name>/`` grouped by name (local staging folders left out)."""
    groups: dict[str, Group] = {}
    for entry in tree.entries:
        parts = entry.rel.split("/")
        if len(parts) < 2 or parts[0] != folder or _STAGING_DIR.fullmatch(parts[1]):
            continue
        groups.setdefault(parts[1], Group(parts[1])).entries.append(entry)
    return groups


def _removal(kind: str, tree: Tree, rel: str, entries: list[Entry], *, marker: str | None = None, idle_before: float | None = None) -> Removal:
    files = [entry for entry in entries if not entry.is_dir]
    return Removal(kind, tree, rel, len(files), sum(entry.size for entry in files), True, marker, idle_before)


def _version_folders(group: Group) -> dict[str, list[Entry]]:
    folders: dict[str, list[Entry]] = defaultdict(list)
    for entry in group.entries:
        parts = entry.rel.split("/")
        if len(parts) >= 3 and _VERSION.fullmatch(parts[2]):
            folders[parts[2]].append(entry)
    return folders


def _winning_version(tree: Tree, group_rel: str, versions: dict[str, list[Entry]]) -> str | None:
    """The version the marker names; read only when there is a choice (one GET)."""
    if len(versions) == 1:
        return next(iter(versions))
    try:
        return tree.fs.cat_file(tree.path(f"{group_rel}/{COMPLETE_MARKER}")).decode().strip()
    except FileNotFoundError:
        return None


def plan_analyses(tree: Tree, referenced: set[str], cutoff: float, temp_cutoff: float) -> tuple[list[Removal], set[str], set[str]]:
    """Removals under analysis/, the keys that go and the keys that stay."""
    removals: list[Removal] = []
    gone: set[str] = set()
    kept: set[str] = set()
    for key, group in _groups(tree, ANALYSIS_DIR).items():
        rel = f"{ANALYSIS_DIR}/{key}"
        versions = _version_folders(group)
        has_marker = any(entry.rel == f"{rel}/{COMPLETE_MARKER}" for entry in group.entries)
        if versions and not has_marker:
            # A publisher that crashed mid-upload (or one still uploading: hence the age).
            if group.newest < temp_cutoff:
                removals.append(_removal("publisher_leftovers", tree, rel, group.entries, idle_before=temp_cutoff))
                gone.add(key)
            continue
        if key not in referenced and group.newest < cutoff:
            marker = f"{rel}/{COMPLETE_MARKER}" if has_marker else None
            removals.append(_removal("analyses", tree, rel, group.entries, marker=marker, idle_before=cutoff))
            gone.add(key)
            continue
        kept.add(key)
        winner = _winning_version(tree, rel, versions) if versions else None
        for version, entries in versions.items():
            if version != winner and max(entry.mtime for entry in entries) < temp_cutoff:
                removals.append(_removal("publisher_leftovers", tree, f"{rel}/{version}", entries, idle_before=temp_cutoff))
    return removals, gone, kept


def plan_item_dirs(tree: Tree, referenced: set[str], cutoff: float) -> list[Removal]:
    """Per-item work dirs that no pinning run names and nothing wrote to since `cutoff`."""
    return [
        _removal("item_work_dirs", tree, f"{ITEMS_DIR}/{name}", group.entries, idle_before=cutoff)
        for name, group in _groups(tree, ITEMS_DIR).items()
        if name not in referenced and group.newest < cutoff
    ]


def _claimed(path: str, removals: list[Removal]) -> bool:
    """Whether `path` (absolute on its store) lies in something already going."""
    for removal in removals:
        if removal.tree is not None:
            going = removal.tree.path(removal.rel)
            if path == going or path.startswith(going + "/"):
                return True
    return False


def plan_temporaries(tree: Tree, temp_cutoff: float, already: list[Removal]) -> list[Removal]:
    """Stale temporaries of dead writers under `tree`, outside folders already going."""
    staging: dict[str, list[Entry]] = defaultdict(list)
    removals = []
    for entry in tree.entries:
        parts = entry.rel.split("/")
        stage_at = next((i for i, part in enumerate(parts) if _STAGING_DIR.fullmatch(part)), None)
        if stage_at is not None:
            staging["/".join(parts[: stage_at + 1])].append(entry)
        elif not entry.is_dir and (_LOCAL_PARTIAL.fullmatch(parts[-1]) or _REMOTE_PARTIAL.fullmatch(parts[-1])):
            if entry.mtime < temp_cutoff and not _claimed(tree.path(entry.rel), already):
                removals.append(Removal("temporaries", tree, entry.rel, 1, entry.size, False, idle_before=temp_cutoff))
    for rel, entries in staging.items():
        if max(entry.mtime for entry in entries) < temp_cutoff and not _claimed(tree.path(rel), already):
            removals.append(_removal("temporaries", tree, rel, entries, idle_before=temp_cutoff))
    return removals


def _local_folder_stats(path: Path) -> tuple[int, int, float]:
    """(files, bytes, newest of mtime and atime) of a local folder: atime shows reads of a cache."""
    files, size, newest = 0, 0, path.stat().st_mtime
    for item in path.rglob("*"):
        try:
            stat = item.stat()
        except FileNotFoundError:
            continue
        newest = max(newest, stat.st_mtime, stat.st_atime if item.is_file() else 0.0)
        if item.is_file():
            files, size = files + 1, size + stat.st_size
    return files, size, newest


def plan_node_copies(cache_root: Path, work_root: str, gone: set[str], kept: set[str], cutoff: float) -> list[Removal]:
    """This node's copies of remote analyses: those whose analysis goes, and copies of analyses
    this store does not hold (another store's, or removed earlier) idle since `cutoff`."""
    if not cache_root.is_dir():
        return []
    key_of = {_node_cache_entry(analysis_uri(work_root, key)).name: key for key in gone | kept}
    removals = []
    for path in cache_root.iterdir():
        key = key_of.get(path.name)
        if not path.is_dir() or not _NODE_ENTRY.fullmatch(path.name) or key in kept:
            continue
        files, size, newest = _local_folder_stats(path)
        if key in gone or newest < cutoff:
            removals.append(Removal("node_cache", None, str(path), files, size, True))
    return removals


def plan_node_staging(cache_root: Path, temp_cutoff: float) -> list[Removal]:
    """Staging folders in this node's cache left by publishers and fetchers that died."""
    if not cache_root.is_dir():
        return []
    removals = []
    for path in cache_root.iterdir():
        if path.is_dir() and _NODE_STAGING_DIR.fullmatch(path.name):
            files, size, newest = _local_folder_stats(path)
            if newest < temp_cutoff:
                removals.append(Removal("temporaries", None, str(path), files, size, True))
    return removals


# --- removing -------------------------------------------------------------------------------------


def _still_idle(removal: Removal) -> bool:
    """Whether nothing under the removal changed since its cutoff (a reuse stamps it anew)."""
    if removal.tree is None or removal.idle_before is None:
        return True
    fs, path = removal.tree.fs, removal.tree.path(removal.rel)
    fs.invalidate_cache(path)
    try:
        infos = fs.find(path, detail=True) if removal.is_dir else {path: fs.info(path)}
    except FileNotFoundError:
        return False
    return all(_mtime(info) < removal.idle_before for info in infos.values())


def _delete(removal: Removal) -> bool:
    """Delete one removal; False when it could not be (logged) or changed since the listing."""
    if removal.tree is None:
        shutil.rmtree(removal.rel, ignore_errors=True)
        return True
    if not _still_idle(removal):
        log.info("keeping %s: used since the listing", removal.tree.path(removal.rel))
        return False
    fs = removal.tree.fs
    try:
        if removal.marker:
            fs.rm_file(removal.tree.path(removal.marker))
        if removal.is_dir:
            fs.rm(removal.tree.path(removal.rel), recursive=True)
        else:
            fs.rm_file(removal.tree.path(removal.rel))
    except FileNotFoundError:
        pass  # gone already (another gc, or a publisher cleaning up after itself)
    except OSError as error:
        log.warning("cannot remove %s: %s", removal.tree.path(removal.rel), error)
        return False
    return True


# --- the summary ----------------------------------------------------------------------------------


@dataclass
class Tally:
    entries: int = 0
    files: int = 0
    bytes: int = 0

    def add(self, removal: Removal) -> None:
        self.entries += 1
        self.files += removal.files
        self.bytes += removal.bytes


@dataclass
class GcSummary:
    """What gc removed (or, with dry_run, would remove), per kind."""

    dry_run: bool
    older_than_days: float
    temp_age_hours: float
    removed: dict[str, Tally] = field(default_factory=lambda: {kind: Tally() for kind in KINDS})
    kept_analyses: int = 0
    runs_finished_in_window: int = 0
    runs_finished_before: int = 0
    runs_unfinished: int = 0
    not_removed: int = 0  # changed since the listing, or refused by the store
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return sum(tally.files for tally in self.removed.values())

    @property
    def bytes(self) -> int:
        return sum(tally.bytes for tally in self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), files=self.files, bytes=self.bytes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _apply(removals: list[Removal], summary: GcSummary) -> None:
    def run(removal: Removal) -> bool:
        log.debug("%s %s: %s (%d files, %d bytes)", "would remove" if summary.dry_run else "removing", removal.kind,
                  removal.rel if removal.tree is None else removal.tree.path(removal.rel), removal.files, removal.bytes)
        return True if summary.dry_run else _delete(removal)

    with ThreadPoolExecutor(_THREADS) as pool:
        for removal, done in zip(removals, pool.map(run, removals)):
            if done:
                summary.removed[removal.kind].add(removal)
            else:
                summary.not_removed += 1


def _log_summary(summary: GcSummary) -> None:
    verb = "would remove" if summary.dry_run else "removed"
    for kind, tally in summary.removed.items():
        log.info("gc: %s %d %s (%d files, %s bytes)", verb, tally.entries, kind, tally.files, f"{tally.bytes:,}")
    log.info("gc: %s %d files, %s bytes in all; kept %d analyses; runs: %d in window, %d unfinished, %d older",
             verb, summary.files, f"{summary.bytes:,}", summary.kept_analyses, summary.runs_finished_in_window,
             summary.runs_unfinished, summary.runs_finished_before)


# --- entry points ---------------------------------------------------------------------------------


def _may_hold_partials(uri: str) -> bool:
    """Object stores put a file in one atomic request: they never hold our .partial temporaries."""
    protocol = fsspec.core.split_protocol(uri)[0]
    return is_local(uri) or (protocol or "").lower() not in _ATOMIC_PUT_PROTOCOLS


def _outermost(uris: Iterable[str | None]) -> list[str]:
    """Distinct roots, leaving out any that lies inside another (its listing covers it)."""
    kept: list[str] = []
    for uri in sorted({uri.rstrip("/") for uri in uris if uri}, key=len):
        if not any(uri == outer or uri.startswith(outer + "/") for outer in kept):
            kept.append(uri)
    return kept


def _list_all(uris: Iterable[str | None]) -> list[Tree]:
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(list_tree, _outermost(uris)))


def _subtree(trees: list[Tree], uri: str) -> Tree:
    """The part of a listing that lies under `uri` (a root listed as part of an outer one)."""
    fs = filesystem_for(uri)
    base = fs._strip_protocol(uri).rstrip("/")
    for tree in trees:
        if tree.local == is_local(uri) and (base == tree.base or base.startswith(tree.base + "/")):
            inner = base[len(tree.base) + 1:] if base != tree.base else ""
            entries = [Entry(e.rel[len(inner) + 1:] if inner else e.rel, e.size, e.mtime, e.is_dir)
                       for e in tree.entries if not inner or e.rel.startswith(inner + "/")]
            return Tree(tree.fs, base, entries, tree.local, uri)
    return list_tree(uri)


def _record_roots(output_root: str | None, state_roots: Iterable[str]) -> list[str]:
    """Where run records live besides the work store (whose state/ and api/ hold some too):
    <output_root>/_lipdub and any given state roots. An object-store output root is not listed
    whole: it holds every output ever written and cannot hold temporaries."""
    roots = list(state_roots)
    if output_root:
        roots.append(output_root if _may_hold_partials(output_root) else join_uri(output_root, STATE_DIR))
    return roots


def collect_garbage(
    work_root: str,
    output_root: str | None = None,
    *,
    older_than_days: float,
    dry_run: bool = False,
    state_roots: Iterable[str] = (),
    temp_age_hours: float = DEFAULT_TEMP_AGE_HOURS,
    node_cache: Path | None = None,
) -> GcSummary:
    """Remove what no run used within `older_than_days` (see the module docstring); return counts.

    Raises `RunRecordsUnreadable` (removing nothing) when a run that may still need its artifacts
    has records that cannot be read."""
    if older_than_days < 0 or temp_age_hours < 0:
        raise ValueError("ages must not be negative")
    started = time.monotonic()
    now = time.time()
    temp_cutoff = now - temp_age_hours * 3600
    cutoff = min(now - older_than_days * 86400, temp_cutoff)  # never younger than a temporary
    summary = GcSummary(dry_run=dry_run, older_than_days=older_than_days, temp_age_hours=temp_age_hours)

    trees = _list_all([work_root, *_record_roots(output_root, state_roots)])
    references = collect_references([run for tree in trees for run in find_runs(tree)], cutoff)
    summary.runs_finished_in_window = references.finished_in_window
    summary.runs_finished_before = references.finished_before
    summary.runs_unfinished = references.unfinished
    if not references.finished_in_window + references.finished_before + references.unfinished:
        log.warning("gc: no run records found: only last-used times protect analyses")

    work = _subtree(trees, work_root)
    removals, gone, kept = plan_analyses(work, _names_under(references.analysis_uris, work, ANALYSIS_DIR), cutoff, temp_cutoff)
    removals += plan_item_dirs(work, _names_under(references.work_dirs, work, ITEMS_DIR), cutoff)
    for tree in trees:
        if _may_hold_partials(tree.uri):
            removals += plan_temporaries(tree, temp_cutoff, removals)
    cache_root = node_cache or _node_cache_root()
    removals += plan_node_copies(cache_root, work_root, gone, kept, cutoff) + plan_node_staging(cache_root, temp_cutoff)
    summary.kept_analyses = len(kept)

    _apply(removals, summary)
    summary.seconds = round(time.monotonic() - started, 3)
    _log_summary(summary)
    return summary


def sweep_stale_temporaries(*roots: str | None, temp_age_hours: float = DEFAULT_TEMP_AGE_HOURS, node_cache: Path | None = None) -> Tally:
    """Remove temporaries of dead writers (older than `temp_age_hours`) under `roots` and in this
    node's cache; called at the start of every catalog run. Never raises: a failed sweep is a
    warning, not a reason to stop a run."""
    tally = Tally()
    try:
        temp_cutoff = time.time() - temp_age_hours * 3600
        removals: list[Removal] = []
        for tree in _list_all(root for root in roots if root and _may_hold_partials(root)):
            removals += plan_temporaries(tree, temp_cutoff, removals)
        removals += plan_node_staging(node_cache or _node_cache_root(), temp_cutoff)
        for removal in removals:
            if _delete(removal):
                tally.add(removal)
        if tally.entries:
            log.info("removed %d stale temporaries (%d files, %s bytes) left by writers that died", tally.entries, tally.files, f"{tally.bytes:,}")
    except Exception as error:  # noqa: BLE001 - see the docstring
        log.warning("could not sweep stale temporaries: %s", error)
    return tally
