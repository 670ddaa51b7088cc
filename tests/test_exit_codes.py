"""What each command answers a user can act on, and its exit code: 0 done, 1 failed (a teacher down
or refusing), 2 usage or data (a flag, a variable, a file, a missing model folder)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, free_port

from protege.cli import main


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stopped:  # argparse's usage errors, --help and --version
        return int(stopped.code or 0)


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["--version"]) == 0
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert capsys.readouterr().out.strip() == f"protege {declared}"
    assert _exit_code(["label", "--help"]) == 0


def test_a_missing_command_or_flag_value_is_a_usage_error() -> None:
    assert _exit_code([]) == 2
    assert _exit_code(["train", "--data", "x.csv", "--out", "o", "--epochs", "many"]) == 2


@pytest.mark.parametrize("command", [
    ["serve", "--backend", "cross-encoder", "--model", "{missing}", "--metrics-port", "0", "--port", "{p}"],
    ["eval", "--data", "{judged}", "--model", "{missing}"],
    ["export", "--model", "{missing}", "--to", "{out}"],
])  # fmt: skip
def test_a_missing_model_folder_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture, command: list[str]
) -> None:
    """They answered with the hub's "Repo id must use alphanumeric chars"."""
    judged = tmp_path / "judged.csv"
    judged.write_text("query,document,grade\ndrill,DEWALT drill,3\ndrill,box of nails,1\n")
    missing = tmp_path / "runs" / "student"
    values = {"missing": missing, "judged": judged, "out": tmp_path / "export", "p": free_port()}
    assert _exit_code([word.format(**values) for word in command]) == 2
    err = capsys.readouterr().err
    assert f"model folder {missing} not found" in err and "Repo id" not in err


def test_log_lines_carry_their_level() -> None:
    """A WARNING line once looked like an INFO one: the time and the message, no level."""
    code = (
        "import logging\nfrom protege.common import verbosity\nverbosity.configure(False)\n"
        "logging.getLogger('protege').warning('teacher down')\nlogging.getLogger('protege').info('labelled')"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = shown.stderr.strip().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["WARNING teacher down", "INFO labelled"]


def test_a_bad_setting_is_named_by_its_flag_on_the_command_line_and_by_its_field_in_code(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from protege.client.distill_config import DistillConfig
    from protege.common.setting_names import SettingError
    from protege.filters.settings import QuotaRule

    with pytest.raises(SettingError, match=r"^noise_tail is a share in \[0, 1\), not 2$"):
        QuotaRule(noise_tail=2)
    with pytest.raises(SettingError, match="give a warmup_pairs below label_budget"):
        DistillConfig(warmup_pairs=600, label_budget=500)
    where = ["--student", str(tmp_path / "s"), "--labels", str(tmp_path / "l"), "--out", str(tmp_path / "o")]
    assert _exit_code(["filter", *where, "--noise-tail", "2"]) == 2
    assert "protege filter: --noise-tail is a share in [0, 1), not 2" in capsys.readouterr().err
    # A flag named otherwise than its field (--warmup for warmup_pairs) is said as the flag.
    (tmp_path / "p.csv").write_text("query,document\ndrill,cordless drill\n")
    pool = ["--teacher", "localhost:1", "--data", str(tmp_path / "p.csv"), "--out", str(tmp_path / "o")]
    assert _exit_code(["distill", *pool, "--warmup", "600", "--label-budget", "500"]) == 2
    assert "give a --warmup below --label-budget" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
