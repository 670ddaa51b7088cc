"""Opening a data file: its format by name, and its bytes decompressed (gzip, bz2, xz, or
the one file of a zip archive)."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .spec import DataError

# Compressed files are read as they are, by suffix (Kaggle hands out .csv.zip, TREC and MS MARCO
# .tsv.gz); a zip archive holds one data file.
DECOMPRESSORS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


COMPRESSIONS = (*DECOMPRESSORS, ".zip")


def file_format(path: Path) -> str:
    """``csv``, ``tsv``, ``jsonl``, ``parquet`` or ``arrow``, from the name (of a compressed file: the name
    without the compression's suffix; of a zip archive: the name of the file it holds)."""
    compression = compression_of(path)
    name = Path(zip_member(path) if compression == ".zip" else path.stem if compression else path.name)
    for suffix in reversed([suffix.lower() for suffix in name.suffixes]):
        if suffix in (".csv", ".tsv"):
            fmt = suffix[1:]
        elif suffix in (".jsonl", ".ndjson", ".json"):
            fmt = "jsonl"
        elif suffix in (".parquet", ".pq"):
            fmt = "parquet"
        elif suffix in (".arrow", ".feather", ".ipc"):
            fmt = "arrow"
        else:
            continue
        if compression and fmt in ("parquet", "arrow"):
            raise DataError(f"{path}: {fmt} is compressed inside; give the .{fmt} file itself")
        return fmt
    raise DataError(
        f"{path}: cannot tell the format from the name; use .csv, .tsv, .jsonl, .json, .parquet or .arrow "
        f"(CSV and JSONL may end in {', '.join(COMPRESSIONS)})"
    )


def compression_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return suffix if suffix in COMPRESSIONS else None


def zip_member(path: Path) -> str:
    """The name of the one data file a zip archive holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                info.filename
                for info in archive.infolist()
                if not info.is_dir() and not info.filename.startswith("__MACOSX/")
            ]
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path}: not a readable zip archive: {error}") from None
    if len(names) != 1:
        raise DataError(
            f"{path}: a zip archive must hold one data file, not {len(names)} "
            f"({', '.join(names[:5]) or 'none'}); unpack it and give the file"
        )
    return names[0]


@contextlib.contextmanager
def open_binary(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed; a corrupt or truncated archive is a ``DataError``."""
    compression = compression_of(path)
    if compression is None:
        with path.open("rb") as file:
            yield file
        return
    corrupt = f"{path}: not a readable {compression.lstrip('.')} file (truncated or corrupt?)"
    try:
        if compression == ".zip":
            with zipfile.ZipFile(path) as archive, archive.open(zip_member(path)) as file:
                yield file
        else:
            with DECOMPRESSORS[compression](path, "rb") as file:
                yield file
    except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, zipfile.BadZipFile) as error:
        raise DataError(f"{corrupt}: {error}") from None
    except OSError as error:
        if "Invalid data stream" not in str(error):  # bz2's word for corrupt data
            raise
        raise DataError(f"{corrupt}: {error}") from None


@contextlib.contextmanager
def open_text(path: Path, encoding: str) -> Iterator[io.TextIOWrapper]:
    with open_binary(path) as file, io.TextIOWrapper(file, encoding, errors="replace", newline="") as text:
        yield text
