"""Settings: defaults, overrides from YAML, and clear errors for a centre's typo."""

import pytest

from riskmodel.config import Settings, load_settings
from riskmodel.errors import ConfigError


def test_defaults_without_a_file():
    settings = load_settings(None)
    assert settings.labels.horizon_days == 90
    assert settings.instruments.phq9_positive_cutoff["junior"] == 11
    assert settings.reports.lang == "zh"


def test_a_centre_overrides_one_key_and_keeps_the_other_defaults(tmp_path):
    path = tmp_path / "centre.yaml"
    path.write_text("warning:\n  capacity: {I: 20, II: 60, III: 150}\nlabels:\n  horizon_days: 30\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.warning.capacity == {"I": 20, "II": 60, "III": 150}
    assert settings.labels.horizon_days == 30
    assert settings.model == Settings().model


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("labels:\n  horizon_dayz: 30\n", "labels.horizon_dayz"),
        ("labels:\n  horizon_days: soon\n", "labels.horizon_days"),
        ("reports: [1, 2\n", "not valid YAML"),
        ("- just a list\n", "top level"),
    ],
)
def test_bad_configuration_names_the_file_and_the_key(tmp_path, content, expected):
    path = tmp_path / "centre.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert expected in str(error.value)
    assert "centre.yaml" in str(error.value)


def test_missing_configuration_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_are_json_ready_for_manifests():
    import json

    json.dumps(Settings().as_dict())


def test_configuration_page_is_generated_from_config_py_and_explains_every_key():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("config_doc", root / "scripts" / "config_doc.py")
    config_doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_doc)
    page = config_doc.render()
    assert (root / "docs" / "configuration.md").read_text(encoding="utf-8") == page, (
        "docs/configuration.md is out of date: run `.venv/bin/python scripts/config_doc.py`"
    )
    undocumented = [line.split("|")[1].strip() for line in page.splitlines() if line.endswith("|  |")]
    assert not undocumented, f"settings without a comment in riskmodel/config.py: {undocumented}"
    for section, field in Settings.model_fields.items():
        for key in field.annotation.model_fields:
            assert f"| `{key}` |" in page, f"{section}.{key} missing from docs/configuration.md"
