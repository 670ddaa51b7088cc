"""``protege demo``: the packaged MiniLM served as a bi-encoder teacher over real gRPC on
localhost, labelling a few built-in sample pairs. (The full distillation loop replaces it.)"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

SAMPLE_PAIRS = [
    ("cordless drill", "DEWALT 20-Volt MAX Lithium-Ion Cordless Drill/Driver Kit"),
    ("cordless drill", "Husky 3/8 in. Drive Ratchet Set (40-Piece)"),
    ("white ceiling paint", "BEHR Premium Plus 1 gal. Flat White Ceiling Paint"),
    ("white ceiling paint", "Rust-Oleum 12 oz. Gloss Black Spray Paint"),
    ("angle bracket", "Simpson Strong-Tie 2 in. x 2 in. Galvanized Angle Bracket"),
    ("angle bracket", "Everbilt 1-1/2 in. Zinc-Plated Corner Brace (4-Pack)"),
    ("angle bracket", "GE 60-Watt Equivalent A19 Soft White LED Light Bulb"),
    ("deck over", "BEHR Premium Advanced DeckOver 1 gal. Wood and Concrete Coating"),
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="serve the packaged MiniLM as a teacher and label sample pairs"
    )
    parser.add_argument("--model", help="teacher model (default: the packaged all-MiniLM-L6-v2)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from protege.client import Pair, TeacherClient
    from protege.client.models import packaged_minilm
    from protege.server.app import BackgroundTeacher, ServeConfig

    model = args.model or packaged_minilm()
    with tempfile.TemporaryDirectory() as scratch:
        config = ServeConfig(
            "bi-encoder",
            model,
            host="127.0.0.1",
            port=0,
            cache=str(Path(scratch) / "labels.sqlite"),
            teacher_id=None if args.model else "bi-encoder:all-MiniLM-L6-v2",
        )
        with BackgroundTeacher(config) as teacher, TeacherClient(f"127.0.0.1:{teacher.port}") as client:
            info = client.describe()
            print(f"\nteacher {info.teacher_id} (version {info.teacher_version}) on 127.0.0.1:{teacher.port}")
            print(f"health: {client.health()}\n")
            pairs = [Pair(str(i), query, document) for i, (query, document) in enumerate(SAMPLE_PAIRS)]
            labels = client.label(pairs)
            relabelled = client.label(pairs)
            print(f"{'id':>2}  {'score':>5}  {'query':<20} document")
            for pair, label in zip(pairs, labels, strict=False):
                print(f"{label.id:>2}  {label.score:5.3f}  {pair.query:<20} {pair.document}")
            cached = sum(label.cached for label in relabelled)
            print(f"\nrelabelled: {cached}/{len(pairs)} answered from the label cache")
    return 0
