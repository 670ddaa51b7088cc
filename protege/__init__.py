"""protege: distillation with student-side filtering.

The subpackages map the repository's top-level folders: ``protege.proto`` (wire contract),
``protege.server`` (teacher service), ``protege.client`` (student side) and
``protege.filters`` (student-side filters).
"""

__version__ = "0.1.0"
