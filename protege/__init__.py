"""protege: distillation with student-side filtering.

The subpackages map the repository's top-level folders, bottom layer first: ``protege.common``
(what every layer shares), ``protege.proto`` (wire contract), ``protege.filters`` (student-side
filters), ``protege.server`` (teacher service) and ``protege.client`` (student side).
"""

from pathlib import Path

__version__ = "0.1.0"


# Python run inside a source checkout imports this folder, not the installed package and its
# folder mapping (`pip install .` without -e, the container's /opt/protege): there the mapped
# folders are this folder's siblings, so look for subpackages beside it too.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "client" / "__init__.py").is_file():
    __path__.append(str(_checkout))
