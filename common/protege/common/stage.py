"""A resumable stage: work done once into a folder, skipped when a rerun finds it done, refused
when it was done under other settings.

Each long step (a teacher fitted, a student trained, a study's pair set, selection or timing) is
one. Its *marker*, a file written last and atomically, says it finished: a model folder's
``provenance.json``, a table, a JSON record. Its *settings*, what its result depends on, are kept
in ``settings.json`` when it is claimed; a rerun under other settings is refused with the
settings that differ (``StageMismatch``), or, for disposable work such as checkpoints, the folder
is emptied (``Stage.discard_if_other``).

Example::

    stage = Stage(out / "speed", marker="speed.json")
    if not stage.done:
        stage.finish(measure())
    speed = stage.read()
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from .files import write_json_atomic

PROVENANCE = "provenance.json"  # a trained model folder's marker: written when the model is saved
SETTINGS = "settings.json"


class StageMismatch(ValueError):
    """A stage's folder holds work made under other settings."""


@dataclass(frozen=True)
class Stage:
    """``folder`` (made on ``claim``), done once ``folder / marker`` exists; ``settings`` (any
    JSON-able dict) are the identity a rerun must match."""

    folder: Path
    marker: str = PROVENANCE
    settings: dict | None = None

    @property
    def marker_path(self) -> Path:
        return Path(self.folder) / self.marker

    @property
    def done(self) -> bool:
        """Whether the work is finished (refused, by ``StageMismatch``, when it was made under
        other settings)."""
        self.check()
        return self.marker_path.exists()

    def differing(self) -> list[str]:
        """The settings that differ from those recorded (none when nothing was recorded)."""
        path = Path(self.folder) / SETTINGS
        if self.settings is None or not path.exists():
            return []
        recorded, wanted = json.loads(path.read_text()), _plain(self.settings)
        return sorted(key for key in recorded.keys() | wanted.keys() if recorded.get(key) != wanted.get(key))

    def check(self) -> None:
        differ = self.differing()
        if differ:
            raise StageMismatch(
                f"{self.folder} holds work made with other settings ({', '.join(differ)}; see "
                f"{Path(self.folder) / SETTINGS}): it would be reused as if made with these; use another "
                "output folder"
            )

    def claim(self) -> None:
        """Makes the folder and records the settings (refused where others are recorded)."""
        self.check()
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        path = Path(self.folder) / SETTINGS
        if self.settings is not None and not path.exists():
            write_json_atomic(path, _plain(self.settings))

    def discard_if_other(self) -> bool:
        """Empties the folder where it holds work of other (or unrecorded) settings, work that is
        only a means such as checkpoints, then claims it; returns whether it emptied it."""
        folder = Path(self.folder)
        other = folder.is_dir() and (bool(self.differing()) or not (folder / SETTINGS).exists())
        if other:
            shutil.rmtree(folder)
        self.claim()
        return other

    def finish(self, record: dict) -> None:
        """Writes ``record`` as the marker (JSON, atomically): the stage is done."""
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.marker_path, record)

    def read(self) -> dict:
        """The marker's record (a JSON marker)."""
        return json.loads(self.marker_path.read_text())


def _plain(settings: dict) -> dict:
    """``settings`` as JSON reads them back (tuples as lists, paths as text)."""
    return json.loads(json.dumps(settings, default=str))
