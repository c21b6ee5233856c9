from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from lakestory.config.models.operations import StoryConfig
from lakestory.story.files import (
    apply_retention,
    folder_for,
    list_stories,
    write_atomic,
)

Make = Callable[..., str]


def left(root: Path) -> list[str]:
    return [s.run_id for s in list_stories(str(root))]


def test_layout_and_folder_names(tmp_path: Path, make: Make) -> None:
    base = make(tmp_path, "r1", 0)
    assert base == str(tmp_path / "p" / "2026-03-10" / "r1")
    assert folder_for(["a"]) == "a" and folder_for(["a", "b"]) == "_multi"
    assert folder_for(["../x y"]) == ".._x_y"


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_atomic(str(tmp_path / "d" / "a.json"), "{}")
    write_atomic(str(tmp_path / "d" / "a.json"), '{"b": 1}')
    assert os.listdir(tmp_path / "d") == ["a.json"]
    assert (tmp_path / "d" / "a.json").read_text() == '{"b": 1}'


def test_retention_count_keeps_the_newest(tmp_path: Path, make: Make, now: datetime) -> None:
    for i in range(5):
        make(tmp_path, f"r{i}", 5 - i)  # r4 is the newest
    gone = apply_retention(str(tmp_path), "p", "r4", StoryConfig(retention_count=2), now)
    assert gone == ["r0", "r1", "r2"]  # oldest first
    assert left(tmp_path) == ["r4", "r3"]
    # the html went with the json; the emptied date folders too
    assert sorted(os.listdir(tmp_path / "p")) == ["2026-03-08", "2026-03-09"]
    assert len(os.listdir(tmp_path / "p" / "2026-03-09")) == 2


def test_retention_days_deletes_older_runs_never_the_current(
    tmp_path: Path, make: Make, now: datetime
) -> None:
    make(tmp_path, "old", 40)
    make(tmp_path, "current", 50)  # e.g. a clock that went back: still kept
    make(tmp_path, "new", 1)
    gone = apply_retention(str(tmp_path), "p", "current", StoryConfig(retention_days=30), now)
    assert gone == ["old"]
    assert sorted(left(tmp_path)) == ["current", "new"]


def test_retention_stays_in_its_folder(tmp_path: Path, make: Make, now: datetime) -> None:
    make(tmp_path, "a1", 3, folder="a")
    make(tmp_path, "b1", 2, folder="b")
    make(tmp_path, "b2", 1, folder="b")
    apply_retention(str(tmp_path), "b", "b2", StoryConfig(retention_count=1), now)
    assert sorted(left(tmp_path)) == ["a1", "b2"]


@pytest.mark.parametrize("cfg", [StoryConfig(), StoryConfig(retention_days=1000)])
def test_nothing_to_delete(tmp_path: Path, cfg: StoryConfig, make: Make, now: datetime) -> None:
    make(tmp_path, "r", 3)
    assert apply_retention(str(tmp_path), "p", "x", cfg, now) == []


def test_an_unreadable_story_is_still_listed(tmp_path: Path, make: Make) -> None:
    base = make(tmp_path, "good", 1)
    Path(base).with_name("broken.json").write_text("{not json")
    assert [s.run_id for s in list_stories(str(tmp_path))] == ["good", "broken"]
