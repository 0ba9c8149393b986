"""A fixed split of *people* into test / validation / train: the yardstick for unseen people.

One person is in exactly one group, so a figure on the test (or validation) people is a figure on
faces and voices the model never trained on. The split is committed
(``models/splits/people_split.json``) and was generated once by ``build_split`` below:

- People: every ``person`` of ``<media>/train/catalog.csv`` (its clips share it), and every clip
  of ``<media>/clips`` as its own person (``clips/gen_03`` ...).
- Strata, each split on its own so every group holds all kinds: generated faces (``clips/gen_*``),
  real footage of ``clips/real_*``, and the people of ``train/``.
- Inside a stratum, people are ranked by ``sha1("lipdub-people-v1:" + person)``; the first quarter
  (rounded up) is test, the next fifth (rounded up) validation, the rest train.
- Pinned to train before ranking (documented exceptions): ``grid_s1`` (one speaker, 70% of the
  minutes: as a test person it would be most of the yardstick) and the clips whose audio is
  known to run late (``audio_late_ms`` given: a hold-out figure on them measures the offset, not
  the model).

``test`` is never tuned on: choices (epochs, balancing, augmentation) are made on ``validation``.
Run ``python -m models.people_split --check`` to see that the committed file matches the rule.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["SPLIT_FILE", "GROUPS", "build_split", "load_split", "clips_of", "person_of", "DEFAULT_MEDIA"]

SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "people_split.json"
DEFAULT_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
GROUPS = ("test", "validation", "train")
SALT = "lipdub-people-v1:"
TEST_SHARE, VALIDATION_SHARE = 0.25, 0.20
PINNED_TRAIN = ("grid_s1",)


def _rank_key(person: str) -> str:
    return hashlib.sha1((SALT + person).encode()).hexdigest()


def _people(media: Path) -> dict[str, dict[str, Any]]:
    """person -> {"stratum", "kind" (real|generated), "clips": [path relative to media], "pinned": reason}."""
    people: dict[str, dict[str, Any]] = {}
    for path in sorted((media / "clips").glob("*.mp4")):
        generated = path.stem.startswith("gen_")
        people[f"clips/{path.stem}"] = {"stratum": "clips_generated" if generated else "clips_real",
                                        "kind": "generated" if generated else "real", "clips": [f"clips/{path.name}"]}
    catalog = media / "train" / "catalog.csv"
    if catalog.exists():
        with open(catalog, newline="") as handle:
            for row in csv.DictReader(handle):
                entry = people.setdefault(row["person"], {"stratum": "train_folder", "kind": "real", "clips": []})
                if f"train/{row['file']}" not in entry["clips"]:  # the catalog names some files twice
                    entry["clips"].append(f"train/{row['file']}")
                if row["person"] in PINNED_TRAIN:
                    entry["pinned"] = "one speaker holds 70% of the minutes"
                elif (row.get("audio_late_ms") or "").strip():
                    entry["pinned"] = f"audio known to run {row['audio_late_ms']} ms late"
    return people


def build_split(media: Path = DEFAULT_MEDIA) -> dict[str, Any]:
    """The split by the rule in this module's docstring (deterministic: same media, same split)."""
    people = _people(media)
    groups: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for stratum in sorted({p["stratum"] for p in people.values()}):
        members = {name: p for name, p in people.items() if p["stratum"] == stratum}
        free = sorted((n for n, p in members.items() if "pinned" not in p), key=_rank_key)
        n_test = math.ceil(TEST_SHARE * len(free))
        n_val = math.ceil(VALIDATION_SHARE * len(free))
        chosen = {"test": free[:n_test], "validation": free[n_test:n_test + n_val],
                  "train": free[n_test + n_val:] + sorted(n for n, p in members.items() if "pinned" in p)}
        for group, names in chosen.items():
            for name in names:
                entry = {"kind": members[name]["kind"], "clips": members[name]["clips"]}
                if "pinned" in members[name]:
                    entry["pinned_to_train"] = members[name]["pinned"]
                groups[group][name] = entry
    return {
        "rule": (f"per stratum (clips_generated, clips_real, train_folder), people ranked by sha1('{SALT}' + person): "
                 f"first ceil({TEST_SHARE}*n) test, next ceil({VALIDATION_SHARE}*n) validation, rest train; "
                 "grid_s1 and clips with audio_late_ms pinned to train; each clips/ file is its own person"),
        "media_layout": "paths are relative to the shared media folder (../shared/media)",
        "groups": {group: dict(sorted(members.items())) for group, members in groups.items()},
    }


def load_split(path: Path = SPLIT_FILE) -> dict[str, Any]:
    with open(path) as handle:
        return json.load(handle)


def clips_of(group: str, media: Path = DEFAULT_MEDIA, split: dict[str, Any] | None = None,
             per_person: int | None = None) -> list[tuple[str, str, Path]]:
    """(person, kind, clip path) of a group's clips, at most ``per_person`` clips each (sorted by name)."""
    if group not in GROUPS:
        raise ValueError(f"unknown split group {group!r}: one of {', '.join(GROUPS)}")
    split = split or load_split()
    out = []
    for person, entry in sorted(split["groups"][group].items()):
        clips = sorted(entry["clips"])[: per_person or None]
        out += [(person, entry["kind"], media / clip) for clip in clips]
    return out


def person_of(video_name: str, split: dict[str, Any] | None = None) -> tuple[str, str] | None:
    """(group, person) of a clip by file stem, or None when the split does not know it."""
    split = split or load_split()
    for group, members in split["groups"].items():
        for person, entry in members.items():
            if any(Path(clip).stem == video_name for clip in entry["clips"]):
                return group, person
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build or check the committed people split.")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    parser.add_argument("--write", action="store_true", help="(re)write models/splits/people_split.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs from the rule")
    args = parser.parse_args(argv)
    split = build_split(args.media)
    if args.write:
        SPLIT_FILE.parent.mkdir(parents=True, exist_ok=True)
        SPLIT_FILE.write_text(json.dumps(split, indent=1) + "\n")
    if args.check and load_split() != split:
        raise SystemExit("models/splits/people_split.json does not match the rule on this media folder")
    for group in GROUPS:
        members = split["groups"][group]
        kinds = {k: sum(1 for e in members.values() if e["kind"] == k) for k in ("real", "generated")}
        seconds = sum(len(e["clips"]) for e in members.values())
        print(f"{group}: {len(members)} people ({kinds}), {seconds} clips: {', '.join(members)}")


if __name__ == "__main__":
    main()
