"""The resumable stage every long step is: done once, skipped when done, refused under other
settings, emptied where its work is only a means."""

from __future__ import annotations

from pathlib import Path

import pytest

from protege.common.stage import SETTINGS, Stage, StageMismatch


def test_a_stage_is_done_once_its_marker_is_written(tmp_path: Path) -> None:
    stage = Stage(tmp_path / "speed", marker="speed.json", settings={"pairs": 1024})
    assert not stage.done
    stage.claim()
    assert (tmp_path / "speed" / SETTINGS).exists() and not stage.done
    stage.finish({"teacher": 49.9})
    assert stage.done and stage.read() == {"teacher": 49.9}
    assert Stage(tmp_path / "speed", marker="speed.json", settings={"pairs": 1024}).done


def test_a_stage_made_under_other_settings_is_refused_naming_them(tmp_path: Path) -> None:
    Stage(tmp_path / "s", settings={"layers": 4, "loss": "mse", "seed": 0}).claim()
    other = Stage(tmp_path / "s", settings={"layers": 4, "loss": "bce", "seed": 1})
    with pytest.raises(StageMismatch, match=r"other settings \(loss, seed; see"):
        assert other.done
    with pytest.raises(StageMismatch):
        other.claim()


def test_work_that_is_only_a_means_is_emptied_when_its_settings_differ(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    first = Stage(folder, settings={"data": "a"})
    assert not first.discard_if_other()  # nothing there yet
    (folder / "checkpoint-50").mkdir()
    assert not Stage(folder, settings={"data": "a"}).discard_if_other()
    assert (folder / "checkpoint-50").exists()
    assert Stage(folder, settings={"data": "b"}).discard_if_other()
    assert not (folder / "checkpoint-50").exists() and Stage(folder, settings={"data": "b"}).differing() == []
