"""The bottom layer: what every other part of protege shares and that imports nothing of ours
(where caches live, the trainer's settings, atomic file writes)."""
