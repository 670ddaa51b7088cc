"""Student-side commands: ``protege health``, ``describe``, ``augment``, ``label`` and ``filter``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from google.protobuf import json_format
from protege.filters.settings import FilterSettings

from .augment import STRATEGIES

log = logging.getLogger(__name__)


def add_connection_arguments(parser: argparse.ArgumentParser, target: bool = True) -> None:
    """How to reach a teacher; ``target=False`` when the command declares ``--teacher`` itself."""
    if target:
        parser.add_argument(
            "--teacher", default="localhost:50051", help="host:port, dns:///name:port or a replica list"
        )
    parser.add_argument("--token-file", help="bearer token file")
    parser.add_argument("--tls-ca", help="CA certificate (PEM) to verify the teacher; turns TLS on")
    parser.add_argument("--tls-cert", help="client certificate (PEM) for mTLS")
    parser.add_argument("--tls-key", help="client private key (PEM) for mTLS")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per call")


def connect(args: argparse.Namespace):
    from .teacher_client import TeacherClient

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return TeacherClient(
        args.teacher,
        token_file=args.token_file,
        root_certificates=read(args.tls_ca),
        client_cert=read(args.tls_cert),
        client_key=read(args.tls_key),
        timeout=args.timeout,
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` and the column mapping shared by every command that reads pairs."""
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="CSV/TSV (any encoding), JSON(L), parquet or Arrow file; or a folder of tables: the graded "
        "judgements and those they refer to by id (queries, products), joined",
    )
    parser.set_defaults(prepare=join_data_folder)
    parser.add_argument(
        "--query-col", help="column of the query (default: found by its usual name, e.g. query, search_term)"
    )
    parser.add_argument(
        "--doc-col",
        action="append",
        help="column of the document; repeat to join several (e.g. title, description); "
        "default: found by its usual name, e.g. document, product_title, title",
    )
    parser.add_argument(
        "--doc-id-col", help="column of the document id (default: found by its usual name, e.g. product_uid)"
    )
    parser.add_argument(
        "--label-col",
        help="column of a gold grade (commands that need grades find it by its usual name, e.g. relevance)",
    )
    parser.add_argument("--id-col", help="column of a unique pair id (default: the row number)")
    add_label_map_argument(parser)
    parser.add_argument(
        "--encoding",
        default="auto",
        help="text encoding of a CSV or TSV (of a folder's: each), e.g. latin-1 (default: UTF-8 if the file "
        "is UTF-8, else latin-1)",
    )


def join_data_folder(args: argparse.Namespace) -> None:
    """A ``--data`` folder of tables as the file of their rows joined (``joins.join_folder``), its
    CSV and TSV read in ``--encoding``; ``args.data_source`` keeps the path as given."""
    from .joins import join_folder

    args.data_source = args.data
    if args.data.is_dir():
        args.data = join_folder(args.data, encoding=args.encoding)


def add_label_map_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label-map",
        type=label_map,
        help="grades written as words, e.g. Exact=3,Substitute=2,Complement=1,Irrelevant=0 "
        "(default: numbers as they are; ESCI, WANDS and relevant/irrelevant words by rank)",
    )


def label_map(text: str) -> dict[str, float]:
    """``Exact=2,Partial=1,Irrelevant=0`` as a dict of grades."""
    mapping = {}
    for item in text.split(","):
        word, equals, grade = item.rpartition("=")
        try:
            if not equals or not word.strip():
                raise ValueError
            mapping[word.strip()] = float(grade)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item.strip()!r} is not WORD=GRADE (e.g. Exact=2,Partial=1,Irrelevant=0)"
            ) from None
    return mapping


def columns_from_args(args: argparse.Namespace, *, gold: bool = False):
    """The column mapping for ``args.data``: the columns given, the others found in the file's
    header by their usual names or the words of their names (``readers.find_columns``), and those
    still open by the values of the file's first rows (``readers.find_columns_by_content``; the
    gold grade only where the command needs one), logged so a user sees what was read as what."""
    from .readers import Columns, find_columns, find_columns_by_content, read_header, sample_rows

    header = read_header(args.data, args.encoding) or []
    given = {
        "query": args.query_col, "document": args.doc_col, "doc_id": args.doc_id_col, "label": args.label_col
    }  # fmt: skip
    taken = tuple(
        name for name in (args.id_col, args.query_col, *(args.doc_col or []), args.doc_id_col, args.label_col)
        if name
    )  # fmt: skip
    found = find_columns(
        header, tuple(role for role, name in given.items() if not name and (role != "label" or gold)), taken
    )
    if found:
        log.info(
            "%s: columns found by name: %s", args.data,
            ", ".join(f"{role}={name or '(none)'}" for role, name in found.items()),
        )  # fmt: skip
    # A doc id is optional, and no value tells one apart from other ids.
    unnamed = tuple(role for role, name in found.items() if name is None and role != "doc_id")
    if unnamed and header:
        named = tuple(name for name in found.values() if name)
        by_content = find_columns_by_content(sample_rows(args.data, args.encoding), unnamed, taken + named)
        log.info(
            "%s: columns found by their values: %s (else name them: --query-col, --doc-col, --label-col)",
            args.data, ", ".join(f"{role}={name or '(none)'}" for role, name in by_content.items()),
        )  # fmt: skip
        found |= {role: name for role, name in by_content.items() if name}
    return Columns(
        query=args.query_col or found.get("query") or "query",
        docs=tuple(args.doc_col or [found.get("document") or "document"]),
        doc_id=args.doc_id_col or found.get("doc_id"),
        label=args.label_col or found.get("label"),
        pair_id=args.id_col,
        label_map=args.label_map,
    )


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    health = subparsers.add_parser(
        "health",
        help="check a teacher's health",
        description="Exit 0 when the teacher is SERVING, 1 otherwise.",
    )
    add_connection_arguments(health)
    health.set_defaults(run=run_health)
    describe = subparsers.add_parser("describe", help="print a teacher's Describe answer as JSON")
    add_connection_arguments(describe)
    describe.set_defaults(run=run_describe)
    label = subparsers.add_parser(
        "label",
        help="label a data file with the teacher (resumable)",
        description="Label every (query, document) pair of a file with the teacher, into parquet shards. "
        "Run the same command again to resume: finished shards are kept, none is labelled twice.",
    )
    add_connection_arguments(label)
    add_data_arguments(label)
    label.add_argument(
        "--out", required=True, type=Path, help="folder for the label shards and manifest.json"
    )
    label.add_argument("--shard-size", type=int, default=1000, help="pairs per shard (the unit of resume)")
    label.add_argument("--concurrency", type=int, default=4, help="shards labelled at once (streams)")
    label.add_argument("--batch-size", type=int, default=256, help="pairs per stream message")
    label.add_argument("--window", type=int, default=8, help="unanswered stream messages at most")
    label.add_argument(
        "--retry-seconds",
        type=float,
        default=300,
        help="how long to retry an unreachable teacher before giving up",
    )
    label.add_argument("--no-progress", action="store_true", help="no progress bar")
    label.set_defaults(run=run_label)
    augment = subparsers.add_parser(
        "augment",
        help="generate new queries and candidate products: a pair set for protege label",
        description="Seed queries and products come from --data. New queries are generated by the chosen "
        "strategies; each query gets its nearest products from a FAISS index of the catalog plus random "
        "negatives. Writes a parquet pair set that protege label reads as it is.",
    )
    add_data_arguments(augment)
    augment.add_argument("--out", required=True, type=Path, help="parquet file to write")
    augment.add_argument(
        "--strategies",
        default="drop,reorder,typo,synonym,product",
        help="comma-separated, from: " + ", ".join(STRATEGIES),
    )
    augment.add_argument("--per-seed", type=int, default=2, help="new queries per seed query")
    augment.add_argument("--from-products", type=int, default=0, help="queries cut from product texts")
    augment.add_argument("--max-seeds", type=int, help="use only the first N distinct seed queries")
    augment.add_argument("--no-seeds", action="store_true", help="leave the seed queries out of the pair set")
    augment.add_argument("--top-k", type=int, default=8, help="nearest products per query")
    augment.add_argument("--negatives", type=int, default=2, help="random products per query")
    augment.add_argument(
        "--catalog", type=Path, help="catalog index folder: loaded if present, else built there"
    )
    augment.add_argument(
        "--embedder", help="sentence-transformers model (default: packaged all-MiniLM-L6-v2)"
    )
    augment.add_argument("--seed", type=int, default=0, help="random seed")
    augment.add_argument("--teacher", help="generative teacher for the refine strategy (host:port)")
    augment.add_argument("--token-file", help="bearer token file for --teacher")
    augment.set_defaults(run=run_augment)
    select = subparsers.add_parser(
        "filter",
        help="keep the teacher's labels that lie on the student's learning frontier",
        description="Scores every labelled pair with the student, profiles the seed pairs, and applies the "
        "filters. Writes accepted.parquet, rejected.parquet (with the reason for each), profile.json and "
        "summary.json; prints the counts per reason.",
    )
    select.add_argument("--student", required=True, help="the student (a CrossEncoder folder or hub id)")
    select.add_argument("--labels", required=True, type=Path, help="a protege label output folder")
    select.add_argument("--out", required=True, type=Path, help="folder for the accepted and rejected sets")
    defaults = FilterSettings()
    select.add_argument(
        "--band",
        default=f"{defaults.band_low or 0:g},{defaults.band_high:g}",
        help="nll quantiles LOW,HIGH of the reference profile (0 turns the low cut off)",
    )
    select.add_argument(
        "--profile",
        type=Path,
        help="reference profile (default: STUDENT/profile.json, which protege train and distill write; "
        "else the seed pairs among the labels)",
    )
    select.add_argument(
        "--ifd-margin", type=float, default=defaults.ifd_margin, help="reject ifd > 1 + MARGIN"
    )
    select.add_argument(
        "--plausibility", type=float, default=defaults.plausibility_quantile, help="seed quantile"
    )
    select.add_argument("--dedup", type=float, default=defaults.dedup_threshold, help="near-duplicate cosine")
    select.add_argument("--no-refinement", action="store_true", help="keep refinements without comparing")
    select.add_argument("--budget", type=int, help="keep at most this many pairs, most informative first")
    select.add_argument(
        "--query-embedder",
        help="sentence-transformers model that compares queries (default: the packaged all-MiniLM-L6-v2, "
        "the default student's backbone); 'student' uses the student's own encoder",
    )
    select.add_argument("--off", default="", help="filters to turn off: band,ifd,plausibility,dedup")
    select.add_argument("--batch-size", type=int, default=64)
    select.set_defaults(run=run_filter)


def run_health(args: argparse.Namespace) -> int:
    def check(teacher) -> int:
        status = teacher.health()
        print(status)
        return 0 if status == "SERVING" else 1

    return _ask(args, check)


def run_describe(args: argparse.Namespace) -> int:
    def describe(teacher) -> int:
        print(json_format.MessageToJson(teacher.describe(), always_print_fields_with_no_presence=True))
        return 0

    return _ask(args, describe)


def _ask(args: argparse.Namespace, question) -> int:
    """Runs ``question(teacher)``; a refused or failed call prints the error and exits 1."""
    from .teacher_client import TeacherError

    with connect(args) as teacher:
        try:
            return question(teacher)
        except TeacherError as error:
            print(error, file=sys.stderr)
            return 1


def run_label(args: argparse.Namespace) -> int:
    import json

    from .jobs import JobError, LabelJob

    job = LabelJob(
        data=args.data,
        columns=columns_from_args(args),
        out=args.out,
        encoding=args.encoding,
        shard_size=args.shard_size,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        window=args.window,
        retry_seconds=args.retry_seconds,
        progress=not args.no_progress,
    )

    def label(teacher) -> int:
        try:
            summary = job.run(teacher)
        except JobError as error:
            print(f"protege label: {error}", file=sys.stderr)
            return 1
        print(json.dumps({"out": str(args.out), **summary}))
        return 0

    return _ask(args, label)


def run_augment(args: argparse.Namespace) -> int:
    import json
    import logging
    from collections import Counter

    import numpy as np

    from .augment import Augmenter, Generated, SynonymTable
    from .catalog import Catalog, load_embedder
    from .jobs import write_parquet_atomic
    from .readers import read_pairs

    log = logging.getLogger("protege.augment")
    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    seeds: dict[str, None] = {}
    products: dict[str, str] = {}
    for chunk in read_pairs(args.data, columns_from_args(args), encoding=args.encoding):
        for query, document, doc_id in zip(
            chunk["query"].to_pylist(),
            chunk["document"].to_pylist(),
            chunk["doc_id"].to_pylist(),
            strict=True,
        ):
            seeds.setdefault(query)
            products.setdefault(doc_id or document, document)
    seed_list = list(seeds)[: args.max_seeds]
    log.info("%d seed queries, %d products", len(seed_list), len(products))
    embedder = load_embedder(args.embedder)
    if args.catalog and (args.catalog / "catalog.json").exists():
        catalog = Catalog.load(args.catalog)
        log.info("loaded catalog index %s (%d products)", args.catalog, len(catalog))
    else:
        catalog = Catalog.build(
            list(products),
            list(products.values()),
            embedder,
            args.embedder or "all-MiniLM-L6-v2",
            progress=True,
        )
        if args.catalog:
            catalog.save(args.catalog)
    synonyms = (
        SynonymTable.build([*seed_list, *products.values()], embedder) if "synonym" in strategies else None
    )
    refine = None
    if "refine" in strategies:
        if not args.teacher:
            print("protege augment: the refine strategy needs --teacher", file=sys.stderr)
            return 2
        from .teacher_client import TeacherClient

        teacher = TeacherClient(args.teacher, token_file=args.token_file, timeout=120)

        def refine(query: str, n: int, seed: int) -> list[str]:
            return teacher.refine(query, num_rewrites=n, seed=seed)

    augmenter = Augmenter(strategies, args.per_seed, args.seed, synonyms, refine)
    generated = augmenter.generate(seed_list, list(products.items()), args.from_products)
    queries = ([] if args.no_seeds else [Generated(q, "seed") for q in seed_list]) + generated
    table = catalog.pair_set(queries, embedder, args.top_k, args.negatives, np.random.default_rng(args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(table, args.out)
    by_strategy = Counter(generated.strategy for generated in queries)
    print(json.dumps({"out": str(args.out), "pairs": table.num_rows, "queries": dict(by_strategy)}))
    return 0


def run_filter(args: argparse.Namespace) -> int:
    import json
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq
    from protege.filters.base import counts_table
    from protege.filters.profile import Profile
    from protege.filters.select import select
    from sentence_transformers import CrossEncoder

    from .jobs import read_labels

    off = {name.strip() for name in args.off.split(",") if name.strip()}
    low, high = (float(value) for value in args.band.split(","))
    settings = FilterSettings(
        band_low=None if "band" in off or low == 0 else low,
        band_high=None if "band" in off else high,
        ifd_margin=None if "ifd" in off else args.ifd_margin,
        plausibility_quantile=None if "plausibility" in off else args.plausibility,
        dedup_threshold=None if "dedup" in off else args.dedup,
        refinement=not args.no_refinement,
        budget=args.budget,
    )
    labels = read_labels(args.labels)

    def column(name: str) -> list | None:
        return labels[name].to_pylist() if name in labels.column_names else None

    query_embedder = None
    if args.query_embedder != "student" and not {"plausibility", "dedup"} <= off:
        from .catalog import embed, load_embedder

        sentence_model = load_embedder(args.query_embedder)

        def query_embedder(texts):
            return embed(sentence_model, list(texts))

    profile_file = args.profile or Path(args.student) / "profile.json"
    reference = Profile.load(profile_file) if profile_file.exists() else None
    if args.profile and reference is None:
        raise FileNotFoundError(f"{args.profile}: no such profile")
    started = time.perf_counter()
    selection = select(
        CrossEncoder(args.student),
        labels["query"].to_pylist(),
        labels["document"].to_pylist(),
        labels["score"].to_pylist(),
        origin_query=column("origin_query"),
        strategy=column("strategy"),
        doc_id=column("doc_id"),
        settings=settings,
        query_embedder=query_embedder,
        reference=reference,
        batch_size=args.batch_size,
    )
    seconds = time.perf_counter() - started
    decision = selection.decision
    for name in ("nll", "nll_blank", "ifd"):
        labels = labels.append_column(name, pa.array(selection.statistics[name], pa.float64()))
    args.out.mkdir(parents=True, exist_ok=True)
    pq.write_table(labels.filter(pa.array(decision.accepted)), args.out / "accepted.parquet")
    rejected = labels.filter(pa.array(~decision.accepted))
    rejected = rejected.append_column(
        "reason", pa.array(decision.reasons[~decision.accepted].tolist(), pa.string())
    )
    pq.write_table(rejected, args.out / "rejected.parquet")
    selection.profile.save(args.out / "profile.json")
    summary = {
        "student": args.student,
        "labels": str(args.labels),
        "settings": settings.as_dict(),
        "counts": decision.counts(),
        "reference_profile": str(profile_file) if reference is not None else "seed pairs",
        "student_forward_pairs": selection.forward_pairs,
        "seconds": round(seconds, 2),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(counts_table(decision, selection.profile))
    return 0
