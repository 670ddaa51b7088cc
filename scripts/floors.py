"""Writes a pip constraints file pinning each declared dependency to its floor (``name>=1.2`` becomes
``name==1.2``), for ``make test-floors``: proof that the floors pyproject.toml states are enough.

    python scripts/floors.py [EXTRA ...] > floors.txt

torch is left out: the machine's build (CPU or CUDA) is chosen by scripts/install-torch.sh.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

UNPINNED = {"torch"}


def floors(extras: list[str]) -> list[str]:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
        "project"
    ]
    requirements = project["dependencies"] + [r for e in extras for r in project["optional-dependencies"][e]]
    pins = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", requirement)
        name, spec = match.group(1).lower(), match.group(2)
        floor = re.search(r"(?:>=|==)\s*([0-9][^,;\s]*)", spec)
        if floor and name not in UNPINNED:
            pins[name] = floor.group(1)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:])))
