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
