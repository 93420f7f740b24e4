"""The command line: every verb documents itself, and riskmodel's own errors become exit statuses."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from riskmodel.cli import app

runner = CliRunner()


def verbs():
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)


def test_top_level_help_lists_the_verbs():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in verbs():
        assert name in result.output


@pytest.mark.parametrize("name", verbs())
def test_every_verb_has_help(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_console_script_is_installed():
    completed = subprocess.run(
        [sys.executable, "-m", "riskmodel", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_help_shows_plain_metavars_and_the_version():
    from typer.testing import CliRunner

    from riskmodel import __version__
    from riskmodel.cli import app

    runner = CliRunner()
    for args in (["--help"], ["run", "--help"], ["score", "--help"], ["demo", "--help"], ["train", "--help"]):
        shown = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert shown.exit_code == 0, shown.output
        assert "<" not in shown.output.replace("<n", ""), (args, shown.output)  # no <bool>, <path>, <str>
    assert "PATH" in runner.invoke(app, ["run", "--help"], env={"COLUMNS": "160"}).output
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"riskmodel {__version__}"
