"""The people split: one person in one group, the rule reproducible, the committed file sound."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from models.people_split import GROUPS, build_split, clips_of, load_split, person_of


def _fake_media(root: Path, n_people: int = 20) -> Path:
    (root / "clips").mkdir(parents=True)
    (root / "train").mkdir()
    for name in ("gen_01", "gen_02", "gen_03", "gen_04", "real_01", "real_02", "real_03"):
        (root / "clips" / f"{name}.mp4").write_bytes(b"")
    with open(root / "train" / "catalog.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "person", "audio_late_ms", "license"])
        for i in range(n_people):
            for k in range(1 + i % 3):
                writer.writerow([f"p{i}_{k}.mp4", f"person_{i}", "", "CC BY 4.0"])
        for k in range(30):
            writer.writerow([f"s1_{k}.mp4", "grid_s1", "", "CC BY 4.0"])
        writer.writerow(["late.mp4", "late_person", "280", "MIT"])
    return root


def _members(split):
    return [(group, person) for group in GROUPS for person in split["groups"][group]]


def test_each_person_is_in_one_group_and_every_group_has_every_kind(tmp_path):
    split = build_split(_fake_media(tmp_path))
    people = [person for _, person in _members(split)]
    assert len(people) == len(set(people)) == 7 + 20 + 2
    for group in ("test", "validation"):
        kinds = {entry["kind"] for entry in split["groups"][group].values()}
        assert kinds == {"real", "generated"}
        assert any(p.startswith("clips/real_") for p in split["groups"][group])
    assert "grid_s1" in split["groups"]["train"] and "late_person" in split["groups"]["train"]
    assert split["groups"]["train"]["late_person"]["pinned_to_train"].startswith("audio known")
    assert len(split["groups"]["train"]["grid_s1"]["clips"]) == 30


def test_the_rule_is_deterministic_and_independent_of_catalog_order(tmp_path):
    media = _fake_media(tmp_path)
    first = build_split(media)
    rows = list(csv.reader(open(media / "train" / "catalog.csv")))
    with open(media / "train" / "catalog.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *reversed(rows[1:])])
    second = build_split(media)
    assert {g: set(m) for g, m in first["groups"].items()} == {g: set(m) for g, m in second["groups"].items()}


def test_clips_of_caps_clips_per_person_and_person_of_finds_the_group(tmp_path):
    media = _fake_media(tmp_path)
    split = build_split(media)
    clips = clips_of("train", media, split, per_person=2)
    per_person = {}
    for person, _, path in clips:
        per_person[person] = per_person.get(person, 0) + 1
        assert path.parent.parent == media
    assert max(per_person.values()) == 2
    assert person_of("s1_3", split) == ("train", "grid_s1")
    assert person_of("nobody", split) is None
    with pytest.raises(ValueError):
        clips_of("holdout", media, split)


def test_committed_split_keeps_people_apart_and_tests_real_and_generated():
    split = load_split()
    people = [person for _, person in _members(split)]
    assert len(people) == len(set(people))
    clips = [clip for group in GROUPS for entry in split["groups"][group].values() for clip in entry["clips"]]
    assert len(clips) == len(set(clips))
    test = split["groups"]["test"]
    assert any(p.startswith("clips/gen_") for p in test) and any(p.startswith("clips/real_") for p in test)
    assert sum(1 for e in test.values() if e["kind"] == "real" and not any(c.startswith("clips/") for c in e["clips"])) >= 5
    assert "grid_s1" in split["groups"]["train"]


def test_committed_split_matches_the_rule_on_the_shared_media(shared_media):
    if not (shared_media / "train" / "catalog.csv").exists():
        pytest.skip("no train/ folder in the shared media")
    assert build_split(shared_media) == load_split()
