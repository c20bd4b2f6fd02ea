"""--help of every command, as a user at an 80-column terminal (or a pipe) reads it."""

import re

import pytest
import typer
from typer.testing import CliRunner

from lstmcalc.cli import app

runner = CliRunner()
ROOT = typer.main.get_command(app)
COMMANDS = ROOT.list_commands(None)
ACTIONS = {"help", "version", "install_completion", "show_completion"}


def help_text(*command: str, columns: int = 80) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(columns), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def params(name: str):
    import typer._click.core as click_core  # Typer's bundled Click, for a context to ask the command

    ctx = click_core.Context(ROOT)
    command = ROOT.get_command(ctx, name)
    return command.get_params(click_core.Context(command, info_name=name, parent=ctx))


def test_every_command_is_listed():
    assert set(COMMANDS) == {"count", "breakdown", "cost", "explain", "run", "convert", "inspect", "why", "diff"}


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS], ids=lambda c: c[0] if c else "root")
@pytest.mark.parametrize("columns", [80, 200])
def test_help_fits_80_columns_and_hides_nothing(command, columns):
    text = help_text(*command, columns=columns)
    lines = text.splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long
    assert "…" not in text  # nothing cut
    assert "<bool>" not in text and "<str>" not in text and "<int>" not in text  # a flag takes no value
    assert "\x1b" not in text
    assert re.match(r"(lstmcalc|python -m lstmcalc) ", lines[-1].strip()), lines[-1]  # ends with an example
    assert "Examples:" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_shows_its_default_or_required(command):
    text = help_text(command)
    for param in params(command):
        if param.name in ACTIONS:
            continue
        name = max(param.opts, key=len) if param.opts[0].startswith("-") else None
        if name is None:  # an argument: shown by its metavar
            name = param.metavar
        # the option's entry runs from its name to the next line that starts a new entry
        # (after its short and shorter names: "-u, --units, --filters TEXT")
        block = re.search(rf"^\s+(?:-\w, )?(?:--[\w-]+, )*{re.escape(name)}\b.*?(?=^\s{{2}}-|^\S|\Z)", text,
                          re.S | re.M)
        assert block, (command, name, text)
        entry = " ".join(block.group(0).split())
        assert "[default: " in entry or "[required]" in entry, (command, name, entry)


def test_known_defaults_read_as_they_should():
    count = " ".join(help_text("count").split())
    assert "B: batch size. [default: 32]" in count
    assert "H: units (Keras units, PyTorch hidden_size)" in count and "[required]" in count
    assert "Keras Bidirectional merge_mode. [default: concat]" in count
    assert "(needs lstmcalc[plot])" in count
    assert "--reset-after / --no-reset-after" in count
    assert "--no-bias No bias" in count  # a flag, no value after it
    for option, default in (("--kernel-size", "needed by convlstm*"), ("--strides", "1"), ("--padding", "valid"),
                            ("--dilation-rate", "1"), ("--data-format", "channels_last"), ("--spatial", "none")):
        for text in (count, " ".join(help_text("breakdown").split())):
            assert re.search(rf"{option} \S+ [^[]*\[default: {re.escape(default)}\]", text), (option, default)
    assert "-u, --units, --filters TEXT" in count
    run = " ".join(help_text("run").split())
    assert "[default: 32, or from the inputs]" in run
    assert "--return-sequences" in run and "--return-state" in run


def test_options_are_grouped():
    text = help_text("count")
    for panel in ("Sizes:", "Layer:", "Output:"):
        assert re.search(rf"^{panel}$", text, re.M), panel
    assert len(text.splitlines()) <= 79  # 60 before the ConvLSTM panel (6 options, 9 lines), --filters, --direction (ONNX) and --variant (TFLite)


def test_a_mistyped_command_gets_did_you_mean():
    result = runner.invoke(app, ["cont", "--units", "2"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "lstmcalc: error: no such command 'cont'; did you mean count or cost? (see 'lstmcalc --help')"
    ]
    far = runner.invoke(app, ["zzzz"])
    assert far.exit_code == 2
    assert "commands: count, breakdown, cost, explain, run, convert, inspect" in far.stderr


def test_the_shared_layer_options_are_declared_once_for_every_command():
    """count, breakdown, cost, explain and run take the same layer options from one table
    (cli.SHARED_OPTIONS): the same flags and help text; run's defaults say "or from the weights"."""
    import typer.main

    from lstmcalc.cli import RUN_OMITS, SHARED_OPTIONS

    group = typer.main.get_command(app)
    ctx = group.make_context("lstmcalc", ["count", "--help"], resilient_parsing=True)
    params = {name: {p.name: p for p in group.get_command(ctx, name).params}
              for name in ("count", "breakdown", "cost", "explain", "run")}
    for option, (flags, text, *_rest) in SHARED_OPTIONS.items():
        for command, own in params.items():
            if command == "run" and option in RUN_OMITS:
                assert option not in own
                continue
            p = own[option]
            assert p.help == text, (command, option)
            assert [f for f in flags[0].split("/")][0] in p.opts, (command, option, p.opts)
    run_layers = params["run"]["layers"]
    assert run_layers.default is None and "or from the weights" in run_layers.show_default
