"""``protege export``: a trained student in the form it is deployed in (ONNX, int8, OpenVINO)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protege.client.export import FORMATS, OPTIMIZATIONS, QUANTIZATIONS, ExportSpec


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export",
        help="export a student to ONNX (optionally optimised, int8) or OpenVINO",
        description="Writes a folder that sentence-transformers' CrossEncoder(OUT, backend=FORMAT) and "
        "protege eval/serve --runtime FORMAT load as it is: the model file, tokenizer and config, the model "
        "card and provenance.json, each saying how it was exported (no torch weights). Needs pip install "
        "'protege[onnx]' (and 'protege[openvino]' for OpenVINO).",
    )
    export.add_argument("--model", required=True, help="a CrossEncoder folder (a protege student) or hub id")
    export.add_argument("--to", required=True, type=Path, help="the new folder")
    export.add_argument("--format", choices=FORMATS, default="onnx")
    export.add_argument(
        "--quantize", choices=QUANTIZATIONS, help="dynamic int8 quantisation (ONNX; fastest on CPUs)"
    )
    export.add_argument(
        "--optimize",
        choices=OPTIMIZATIONS,
        help="graph optimisations: O1 basic, O2 +fusions, O3 +GELU approximated, O4 +fp16 (GPU)",
    )
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from protege.client.export import export_student

    spec = ExportSpec(args.format, args.quantize, args.optimize)
    out = export_student(args.model, args.to, spec)
    print(json.dumps({"out": str(out), "export": spec.name}))
    return 0
