"""Suite-wide test set-up.

The pseudonym key comes from the environment in tests, so no test (nor a papermill kernel it starts)
writes a key file into the home directory of whoever runs the suite. Tests of key handling set or
remove the variable themselves with monkeypatch. `excel_engine` runs an Excel test with each reader.
"""

import os

import pytest

os.environ.setdefault("RISKMODEL_PSEUDONYM_KEY", "5a" * 32)


@pytest.fixture(params=["calamine", "openpyxl"])
def excel_engine(request, monkeypatch):
    """Run an Excel test with each reader: python-calamine (fast, when installed) and openpyxl."""
    import importlib.util

    if request.param == "calamine" and importlib.util.find_spec("python_calamine") is None:
        pytest.skip("python-calamine is not installed")
    monkeypatch.setattr("riskmodel.data.read.excel_engine", lambda: request.param)
    return request.param
