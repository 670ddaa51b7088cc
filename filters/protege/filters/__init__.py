"""Student-side filters (likelihood profile, frontier band, IFD, refinement acceptance, dedup).

Imports neither ``protege.server`` nor ``protege.client``.
"""

# Nothing is imported here: each module is imported by its own path.
__all__ = [
    "base",
    "frontier",
    "grouping",
    "likelihood",
    "prelabel",
    "profile",
    "queries",
    "quota",
    "refinement",
    "select",
    "settings",
]
