"""Every command works for every registered framework and each cell it has: exit 0 and one
JSON document (a framework added to the registry is exercised here without a new test)."""

import json

import pytest
from typer.testing import CliRunner

from lstmcalc import frameworks
from lstmcalc.cli import app

CASES = [(fw, cell) for fw in frameworks.names() for cell in frameworks.get(fw).CELLS]


@pytest.mark.parametrize("command", ["count", "breakdown", "explain", "cost", "run"])
@pytest.mark.parametrize("fw,cell", CASES, ids=[f"{f}-{c}" for f, c in CASES])
def test_every_command_for_every_framework(fw, cell, command):
    extra = ["--backend", "numpy"] if command == "run" else []
    r = CliRunner().invoke(app, [command, "-u", "2", "-x", "1", "-f", fw, "--cell", cell, "--json", *extra])
    assert r.exit_code == 0, (r.output, r.exception)
    data = json.loads(r.stdout)
    if command == "run":
        assert data["config"]["framework"] == fw and len(data["output_sample"]) == 2  # H = 2 values
    elif command != "count":
        assert data["config"]["framework"] == fw
