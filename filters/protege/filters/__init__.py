"""Student-side filters (likelihood profile, frontier band, IFD, refinement acceptance, dedup).

Imports neither ``protege.server`` nor ``protege.client``.
"""
