"""Filter settings (a light module: the CLI reads its defaults without loading torch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from protege.common.setting_names import SettingError

# The filters an ablation can keep on alone, by the settings that turn each off.
FILTER_SWITCHES = {
    "band": {"band_low": None, "band_high": None},
    "ifd": {"ifd_margin": None},
    "plausibility": {"plausibility_quantile": None},
    "dedup": {"dedup_threshold": None},
    "refinement": {"refinement": False},
}


# How the quota picks (``filters.quota``); top-ifd is protege's first rule.
QUOTA_RULES = ("random", "top-ifd", "excess", "strata")


@dataclass(frozen=True)
class QuotaRule:
    """How ``FilterSettings.quota`` chooses what the student keeps (``filters.quota`` has the rules).
    ``random`` (after the band) is the default: on validation it beat ``top-ifd`` under 20% flipped
    labels on Home Depot and on the demo's catalog, and clean on the demo (docs/study.md, 2026-12-07);
    no rule has yet beaten a random quarter of whole queries under a clean teacher. Each field's
    help (``protege filter --help``) says what it sets.

    Example::

        FilterSettings(quota=2000, quota_rule=QuotaRule("strata", strata=8, noise_tail=0.05))
    """

    rule: str = field(
        default="random",
        metadata={
            "help": "how the quota picks: random (whole queries), top-ifd (single pairs, highest ifd), "
            "excess (whole queries, most excess loss first), strata (whole queries spread evenly over "
            "difficulty bands, CCS)",
            "choices": QUOTA_RULES,
            "flag": "--quota-rule",
        },
    )
    noise_tail: float = field(
        default=0.05,
        metadata={"help": "share of the hardest queries excess and strata drop as likely teacher noise"},
    )
    strata: int = field(default=8, metadata={"help": "difficulty bands of the strata rule"})
    clusters: int = field(
        default=0,
        metadata={"help": "k-means query clusters the strata rule draws from in turns (0: none)"},
    )
    seed: int = 0  # the random draws of random and strata

    def __post_init__(self) -> None:
        if self.rule not in QUOTA_RULES:
            raise ValueError(f"unknown quota rule {self.rule!r}: choose from {', '.join(QUOTA_RULES)}")
        if not 0 <= self.noise_tail < 1:
            raise SettingError(f"{{noise_tail}} is a share in [0, 1), not {self.noise_tail:g}", "noise_tail")
        if self.strata < 1 or self.clusters < 0:
            raise SettingError(
                f"{{strata}} must be at least 1 and {{clusters}} at least 0, "
                f"not {self.strata}, {self.clusters}",
                "strata",
                "clusters",
            )


# Which candidate pairs go to the teacher when its labels cannot pay for all (``filters.prelabel``).
PRELABEL_RULES = ("random", "uncertainty", "disagreement")


@dataclass(frozen=True)
class PrelabelRule:
    """How the student picks, before any label, the candidate pairs the teacher is asked about when
    the label budget cannot pay for all (``filters.prelabel`` has the rules). ``random`` is the
    default: no rule has yet beaten it at equal teacher labels (docs/study.md)."""

    prelabel_rule: str = field(
        default="random",
        metadata={
            "help": "which candidates are labelled when the label budget cannot pay for all: random (whole "
            "queries), uncertainty (queries whose scores the student is least sure of first), "
            "disagreement (queries where the student and the zero-shot embedding order products most "
            "differently first)",
            "choices": PRELABEL_RULES,
        },
    )
    prelabel_clusters: int = field(
        default=0,
        metadata={
            "help": "k-means query clusters the pre-label pick takes in turns (0: none)",
        },
    )
    seed: int = 0  # the random draw and ties

    def __post_init__(self) -> None:
        if self.prelabel_rule not in PRELABEL_RULES:
            raise ValueError(
                f"unknown pre-label rule {self.prelabel_rule!r}: choose from {', '.join(PRELABEL_RULES)}"
            )
        if self.prelabel_clusters < 0:
            raise SettingError(
                f"{{prelabel_clusters}} must be at least 0, not {self.prelabel_clusters}", "prelabel_clusters"
            )


@dataclass(frozen=True)
class FilterSettings:
    """Which filters run, and their thresholds (quantiles of the profile where so named).
    ``None`` turns a filter off. Defaults from ``bench/filter_quality.py`` (README): against
    the profile of the student's training set, ``nll`` above its 0.99 quantile caught every
    flipped teacher label at 10%, 20% and 40% noise while keeping ~99% of clean pairs; a low
    cut and the IFD ceiling only cost clean pairs there, so both are off; plausibility at
    0.95 catches about three times the gibberish of 0.99 for ≤ 0.5% of good generated queries.

    Example::

        FilterSettings(band_high=0.95, dedup_threshold=None)  # a tighter band, no dedup
        FilterSettings().keeping({"band"})  # the band alone, for an ablation
    """

    band_low: float | None = field(
        default=None, metadata={"help": "band: reject nll below this quantile of the profile (known)"}
    )
    band_high: float | None = field(
        default=0.99,
        metadata={"help": "band: reject nll above this quantile of the profile (beyond frontier)"},
    )
    ifd_margin: float | None = field(default=None, metadata={"help": "ifd: reject ifd > 1 + MARGIN"})
    plausibility_quantile: float | None = field(
        default=0.95,
        metadata={
            "help": "plausibility: seed-query quantile a generated query must reach",
            "flag": "--plausibility",
        },
    )
    dedup_threshold: float | None = field(
        default=0.98,
        metadata={"help": "dedup: cosine above which a query is a near-duplicate", "flag": "--dedup"},
    )
    refinement: bool = field(
        default=True,
        metadata={"help": "refinement: a rewrite replaces its seed pair only where it fits better"},
    )
    quota: int | None = field(
        default=None, metadata={"help": "keep at most this many pairs, chosen by the quota rule"}
    )
    quota_rule: QuotaRule = field(default_factory=QuotaRule)

    def as_dict(self) -> dict:
        return asdict(self)

    def keeping(self, names: Iterable[str]) -> FilterSettings:
        """These settings with every filter not named turned off, for ablations.

        Example::

            FilterSettings().keeping({"band"})  # the likelihood band alone
        """
        names = _filter_names(names)
        idle = sorted(
            name
            for name in names
            if all(getattr(self, key) == value for key, value in FILTER_SWITCHES[name].items())
        )
        if idle:
            # Keeping a filter that these settings already turn off would run nothing silently.
            raise ValueError(
                f"{', '.join(idle)} is off in these settings, so keeping it runs no filter: "
                "turn it on first (its FilterSettings field), or run without filters"
            )
        off = {
            key: value
            for name, switch in FILTER_SWITCHES.items()
            if name not in names
            for key, value in switch.items()
        }
        return replace(self, **off)

    def without(self, names: Iterable[str]) -> FilterSettings:
        """These settings with the named filters turned off.

        Example::

            FilterSettings().without({"dedup", "plausibility"})  # no query filters
        """
        off = {key: value for name in _filter_names(names) for key, value in FILTER_SWITCHES[name].items()}
        return replace(self, **off)


def _filter_names(names: Iterable[str]) -> set[str]:
    names = set(names)
    unknown = names - FILTER_SWITCHES.keys()
    if unknown:
        raise ValueError(
            f"unknown filter {', '.join(sorted(unknown))}: choose from {', '.join(FILTER_SWITCHES)}"
        )
    return names
