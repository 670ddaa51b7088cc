"""Flags made from the config dataclasses: each default, choice list and check is the field's, so a
flag cannot drift from the library (the serve defaults once disagreed: --max-queue 16384 against
the batcher's 4096, --metrics-port 9095 against ServeConfig's 0)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from protege.cli import build_parser, main
from protege.cli.serving import serve_config
from protege.common.config_flags import Unset, default, flag
from protege.server.backends.endpoint import EndpointConfig
from protege.server.cache import LabelCache
from protege.server.config import ServeConfig
from protege.server.labeler import Labeler
from protege.server.servicer import TeacherServicer
from protege.server.validation import Limits


def _flagged(config: type) -> list[dataclasses.Field]:
    return [field for field in dataclasses.fields(config) if "help" in field.metadata]


@pytest.mark.parametrize("config", [ServeConfig, Limits, EndpointConfig])
def test_every_serve_flag_defaults_to_its_field(config: type) -> None:
    args = build_parser("serve").parse_args(["serve", "--backend", "bi-encoder", "--model", "m"])
    fields = [field for field in _flagged(config) if field.name not in ("backend", "model")]
    assert fields
    for field in fields:
        assert getattr(args, field.name) == default(field), flag(field)


def test_serve_flags_make_the_config_the_library_takes() -> None:
    argv = ["serve", "--backend", "cross-encoder", "--model", "m", "--max-queue", "64", "--max-pairs", "8"]
    config = serve_config(build_parser("serve").parse_args([*argv, "--no-reflection", "--cache", "none"]))
    assert config == ServeConfig(
        "cross-encoder",
        "m",
        max_queue=64,
        limits=Limits(max_pairs_per_request=8),
        reflection=False,
        cache=None,
    )


def test_a_variable_sets_a_flags_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROTEGE_MODEL", "from-env")
    monkeypatch.setenv("PROTEGE_PORT", "6000")
    monkeypatch.setenv("PROTEGE_REFLECTION", "false")
    monkeypatch.setenv("PROTEGE_ENDPOINT", "http://llm:8000/v1")
    args = build_parser("serve").parse_args(["serve", "--backend", "openai-compatible"])
    config = serve_config(args)
    assert (config.model, config.port, config.reflection) == ("from-env", 6000, False)
    assert config.endpoint == EndpointConfig("http://llm:8000/v1")


def test_the_python_api_checks_what_the_cli_checks() -> None:
    with pytest.raises(ValueError, match="needs endpoint"):
        ServeConfig("openai-compatible", "qwen")
    with pytest.raises(ValueError, match="runtime onnx is for backend cross-encoder or ensemble"):
        ServeConfig("bi-encoder", "m", runtime="onnx")
    with pytest.raises(ValueError, match="max_batch"):
        ServeConfig("bi-encoder", "m", max_batch=64, max_queue=32)
    with pytest.raises(ValueError, match="at least two labels"):
        EndpointConfig("http://llm/v1", labels=("yes",))


def test_the_labeler_and_the_servicer_take_their_values_from_the_config(cross_encoder_backend) -> None:
    config = ServeConfig("cross-encoder", "m", max_batch=4, max_wait_ms=2.0, max_queue=40, stream_window=3)
    labeler = Labeler(cross_encoder_backend, LabelCache(None, config.cache_memory_items), config)
    batcher = labeler.batcher
    assert (batcher.max_batch, batcher.max_wait_s, batcher.max_queue) == (4, 0.002, 40)
    servicer = TeacherServicer(config)
    assert (servicer.stream_window, servicer.teacher_id) == (3, "cross-encoder:m")
    assert servicer.limits == config.limits


def test_the_experiment_flags_state_the_study_settings_defaults() -> None:
    """``--layers`` once said "default 3" while the students kept 4."""
    from protege.study.settings import DEFAULT_LAYERS, Models, Sizes

    parser = build_parser("experiment")
    text = " ".join(parser._subparsers._group_actions[0].choices["experiment"].format_help().split())
    assert f"(default {DEFAULT_LAYERS}, or all the base has)" in text
    args = parser.parse_args(["experiment", "--data", "x.csv", "--out", "o"])
    fields = _flagged(Models)
    assert {"teacher", "layers", "loss", "noise", "strategies", "runtime"} <= {f.name for f in fields}
    for field in fields:
        assert getattr(args, field.name) == default(field), flag(field)
    assert f"(default {Sizes.rounds})" in text and f"(default {Sizes.per_seed})" in text


def test_the_study_settings_check_what_the_cli_checked() -> None:
    from protege.study.settings import Models, Sizes

    with pytest.raises(ValueError, match=r"in \[0, 0.5\), not 0.7"):
        Models(noise=0.7)
    with pytest.raises(ValueError, match="give it as teacher_base"):
        Models(teacher="llm-judge")
    with pytest.raises(ValueError, match="at least 1"):
        Sizes(rounds=0)
    with pytest.raises(ValueError, match="an llm-judge teacher runs in torch"):
        Models(teacher="llm-judge", teacher_base="lm", runtime="openvino")


@pytest.mark.parametrize(
    ("command", "configs"),
    [("train", ("TrainingConfig",)), ("distill", ("TrainingConfig", "DistillConfig"))],
)
def test_the_training_and_distill_flags_default_to_their_fields(
    command: str, configs: tuple[str, ...]
) -> None:
    from protege.client.distill_config import DistillConfig
    from protege.client.training.config import TrainingConfig

    classes = {"TrainingConfig": TrainingConfig, "DistillConfig": DistillConfig}
    args = build_parser(command).parse_args([command, "--data", "pairs.csv", "--out", "out"])
    for config in (classes[name] for name in configs):
        for field in _flagged(config):
            assert getattr(args, field.name) == default(field), (config.__name__, flag(field))


def test_the_experiment_choices_are_the_librarys_lists() -> None:
    """The teacher recipes and losses were once copied into the CLI as literals."""
    from protege.client.training.config import LOSSES
    from protege.common.runtimes import RUNTIMES
    from protege.teacher_fitting import RECIPES

    experiment = build_parser("experiment")._subparsers._group_actions[0].choices["experiment"]
    choices = {action.dest: action.choices for action in experiment._actions}
    assert tuple(choices["teacher"]) == RECIPES and tuple(choices["loss"]) == LOSSES
    assert tuple(choices["runtime"]) == RUNTIMES


def _serve(*flags: str) -> ServeConfig:
    return serve_config(
        build_parser("serve").parse_args(["serve", "--backend", "bi-encoder", "--model", "m", *flags])
    )


def test_a_bad_variable_is_a_usage_error_naming_it_and_help_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Variables were parsed while the parser was built: a traceback, even for --help."""
    monkeypatch.setenv("PROTEGE_MAX_QUEUE", "lots")
    with pytest.raises(SystemExit) as shown:
        main(["serve", "--help"])
    assert shown.value.code == 0
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--backend", "bi-encoder", "--model", "m"])
    assert refused.value.code == 2
    assert "$PROTEGE_MAX_QUEUE='lots'" in capsys.readouterr().err


def test_a_kubernetes_service_link_is_not_a_port(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Kubernetes sets PROTEGE_PORT=tcp://… in a namespace with a Service named protege."""
    monkeypatch.setenv("PROTEGE_PORT", "tcp://10.0.0.1:50051")
    assert _serve().port == ServeConfig("bi-encoder", "m").port
    assert "service link" in caplog.text


@pytest.mark.parametrize(("variable", "flags", "expected"), [
    ("0", (), False), ("0", ("--reflection",), True), ("1", ("--no-reflection",), False), ("yes", (), True),
])  # fmt: skip
def test_a_switch_and_its_variable_agree(
    monkeypatch: pytest.MonkeyPatch, variable: str, flags: tuple[str, ...], expected: bool
) -> None:
    """With PROTEGE_REFLECTION=0 set, --no-reflection once turned reflection on."""
    monkeypatch.setenv("PROTEGE_REFLECTION", variable)
    assert _serve(*flags).reflection is expected


def test_every_variable_is_its_flags_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """--grace was $PROTEGE_GRACE_S and --max-pairs $PROTEGE_MAX_PAIRS_PER_REQUEST."""
    serve = build_parser("serve")._subparsers._group_actions[0].choices["serve"]
    for action in serve._actions:
        if isinstance(action.default, Unset):
            name = action.option_strings[0].removeprefix("--").replace("-", "_").upper()
            assert action.default.variable == f"PROTEGE_{name}"
    monkeypatch.setenv("PROTEGE_MAX_PAIRS", "8")
    monkeypatch.setenv("PROTEGE_GRACE", "5")
    config = _serve("--grace", "7")
    assert (config.limits.max_pairs_per_request, config.grace_s) == (8, 7.0)


def test_unknown_and_abbreviated_flags_get_the_commands_usage(capsys: pytest.CaptureFixture) -> None:
    for flags in (["--bogus"], ["--max-qu", "3"]):
        with pytest.raises(SystemExit) as refused:
            main(["serve", "--backend", "bi-encoder", "--model", "m", *flags])
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: protege serve") and f"unrecognized arguments: {flags[0]}" in err


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_config_file_fills_what_the_command_line_leaves(tmp_path, suffix: str) -> None:
    values = {"data": "pool.csv", "out": "run", "epochs": 5, "layers": 2, "no-filters": True,
              "no_freeze_embeddings": True, "strategies": ["typo", "drop"]}  # fmt: skip
    path = tmp_path / f"distill{suffix}"
    path.write_text(json.dumps(values) if suffix == ".json" else yaml.safe_dump(values))
    args = build_parser("distill").parse_args(["distill", "--config", str(path), "--epochs", "2"])
    assert (str(args.data), str(args.out), args.epochs, args.layers) == ("pool.csv", "run", 2.0, 2)
    assert (args.no_filters, args.freeze_embeddings, args.strategies) == (True, False, ("typo", "drop"))


@pytest.mark.parametrize(("text", "said"), [
    ("epoch: 5\n", "'epoch' is not a flag of this command"),
    ("loss: hinge\n", "loss: 'hinge' is not one of"),
    ("layers: 2.5\n", "layers: 2.5 is not a whole number"),
    ("- 1\n", "a config file holds one mapping of flag names"),
])  # fmt: skip
def test_a_bad_config_file_is_a_usage_error_naming_the_key(
    tmp_path, capsys: pytest.CaptureFixture, text: str, said: str
) -> None:
    path = tmp_path / "distill.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as refused:
        main(["distill", "--config", str(path), "--data", "pool.csv", "--out", "run"])
    assert refused.value.code == 2
    assert f"--config {path}: {said}" in capsys.readouterr().err
