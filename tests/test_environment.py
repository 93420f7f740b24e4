"""requirements.lock (what pip installs) and environment.yml (conda-forge) pin the same versions."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "jupyter_client": "jupyter-client"}


def test_environment_yml_pins_the_lock_file_versions():
    lock = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", (ROOT / "requirements.lock").read_text(), re.M))
    lock = {name.lower(): version for name, version in lock.items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str) and "=" in dep and not dep.startswith("python=")]
    assert len(conda) > 15, "environment.yml should list every direct dependency"
    mismatched = {}
    for dep in conda:
        name, version = dep.split("=", 1)
        pypi = CONDA_TO_PYPI.get(name, name).lower()
        if lock.get(pypi) != version:
            mismatched[name] = (version, lock.get(pypi))
    assert not mismatched, f"environment.yml vs requirements.lock (conda, lock): {mismatched}"


def test_every_direct_dependency_is_pinned_in_environment_yml():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["test"]
    names = {re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower() for req in direct}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {CONDA_TO_PYPI.get(d.split("=")[0], d.split("=")[0]).lower() for d in env["dependencies"] if isinstance(d, str)}
    assert names <= listed, f"missing from environment.yml: {sorted(names - listed)}"
