"""A small synthetic product catalog with graded relevance judgements, for the demo and tests.

Products are (brand, attribute, product type) titles; queries name a type, often with an
attribute or a brand, sometimes misspelt. Each query's judged products mix exact matches,
the right type with the wrong attribute or brand, related types and unrelated ones, graded
1–3 by rule; each judgement is the mean of three raters, each of whom is off by one grade
with probability ``noise`` (as in real crowd-rated data).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from protege.client.augment import typo

TYPES = {
    "cordless drill": ("drill bit set", "impact driver"),
    "drill bit set": ("cordless drill",),
    "impact driver": ("cordless drill",),
    "circular saw": ("saw blade",),
    "saw blade": ("circular saw",),
    "interior paint": ("paint roller", "primer"),
    "primer": ("interior paint",),
    "paint roller": ("interior paint",),
    "led light bulb": ("ceiling light",),
    "ceiling light": ("led light bulb", "ceiling fan"),
    "ceiling fan": ("ceiling light",),
    "kitchen faucet": ("kitchen sink",),
    "kitchen sink": ("kitchen faucet",),
    "toilet seat": ("toilet",),
    "toilet": ("toilet seat",),
    "garden hose": ("hose nozzle",),
    "hose nozzle": ("garden hose",),
    "lawn mower": ("string trimmer",),
    "string trimmer": ("lawn mower",),
    "angle bracket": ("wood screws",),
    "wood screws": ("angle bracket",),
    "door knob": ("deadbolt",),
    "deadbolt": ("door knob",),
    "area rug": ("rug pad",),
    "rug pad": ("area rug",),
}
BRANDS = ("DEWALT", "RYOBI", "Husky", "BEHR", "Glidden", "GE", "Philips", "Delta", "Moen", "Kohler",
          "Everbilt", "Kwikset", "Schlage", "Toro", "Suncast", "Simpson")  # fmt: skip
ATTRIBUTES = ("white", "black", "stainless steel", "brushed nickel", "20-volt", "18-volt", "7-1/4 in.",
              "1 gal.", "5 gal.", "60-watt", "heavy duty", "outdoor", "round", "oak", "3-light")  # fmt: skip
COLUMNS = ("id", "product_uid", "product_title", "search_term", "relevance")


def generate_catalog(
    products: int = 600, queries: int = 300, judged: int = 6, noise: float = 0.15, seed: int = 0
) -> list[dict[str, str]]:
    """Rows of judged (query, product) pairs in the Home Depot file's shape (see ``COLUMNS``)."""
    rng = np.random.default_rng(seed)
    types = list(TYPES)
    catalog = []
    for number in range(products):
        kind = types[number % len(types)]
        brand, attribute = rng.choice(BRANDS), rng.choice(ATTRIBUTES)
        extra = rng.choice(["", " (2-Pack)", " Kit", " with Case", " for Home"])
        catalog.append(
            (f"p{100000 + number}", kind, str(brand), str(attribute), f"{brand} {attribute} {kind}{extra}")
        )
    by_type: dict[str, list[int]] = {kind: [] for kind in types}
    for row, product in enumerate(catalog):
        by_type[product[1]].append(row)
    rows, made = [], set()
    while len(made) < queries:
        kind = types[int(rng.integers(len(types)))]
        form = rng.random()
        brand = str(rng.choice(BRANDS)) if form < 0.3 else None
        attribute = str(rng.choice(ATTRIBUTES)) if 0.3 <= form < 0.7 else None
        text = " ".join(part for part in (brand and brand.lower(), attribute, kind) if part)
        if rng.random() < 0.2:
            text = typo(text, rng) or text
        if text in made:
            continue
        made.add(text)
        related = [row for other in TYPES[kind] for row in by_type[other]]
        pools = (by_type[kind], by_type[kind], related, list(range(len(catalog))))
        picked: set[int] = set()
        for pool in pools * judged:
            if len(picked) >= judged:
                break
            picked.add(int(rng.choice(pool)))
        for row in sorted(picked):
            doc_id, product_kind, product_brand, product_attribute, title = catalog[row]
            truth = grade(kind, brand, attribute, product_kind, product_brand, product_attribute)
            raters = np.clip(truth + rng.choice([-1, 0, 1], 3, p=[noise / 2, 1 - noise, noise / 2]), 1, 3)
            rows.append(
                {
                    "product_uid": doc_id,
                    "product_title": title,
                    "search_term": text,
                    "relevance": f"{raters.mean():.2f}",
                }
            )
    for number, row in enumerate(rows):
        row["id"] = str(number + 1)
    return rows


def grade(
    kind: str,
    brand: str | None,
    attribute: str | None,
    product_kind: str,
    product_brand: str,
    product_attribute: str,
) -> float:
    """3: the type and every brand or attribute the query names match; 2: the type only;
    1.5: a related type; 1: anything else."""
    if product_kind == kind:
        return 3.0 if brand in (None, product_brand) and attribute in (None, product_attribute) else 2.0
    return 1.5 if product_kind in TYPES[kind] else 1.0


def write_catalog(path: str | Path, **options) -> Path:
    """Writes ``generate_catalog(**options)`` as a UTF-8 CSV; returns the path.

    Example::

        write_catalog("demo/catalog.csv", queries=300)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(generate_catalog(**options))
    return path
