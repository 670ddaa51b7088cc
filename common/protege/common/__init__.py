"""The bottom layer: what every other part of protege shares and that imports nothing of ours
(where caches live, the trainer's settings, atomic file writes)."""

# Nothing is imported here: each module is imported by its own path.
__all__ = [
    "config_flags",
    "files",
    "lazy",
    "paths",
    "runtimes",
    "scores",
    "setting_names",
    "stage",
    "trainer_arguments",
    "verbosity",
]
