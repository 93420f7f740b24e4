"""``python -m riskmodel`` is the ``riskmodel`` command."""

from riskmodel.cli import app

app(prog_name="riskmodel")
