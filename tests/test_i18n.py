"""The translation catalogue: one merged catalogue, both languages everywhere, no silent fallback."""

import pytest

from riskmodel.i18n import LANGUAGES, catalogue, text


def test_every_key_has_both_languages_and_no_empty_text():
    entries = catalogue()
    assert entries, "the catalogue is empty"
    for key, values in entries.items():
        for lang in LANGUAGES:
            assert values[lang].strip(), f"{key} has an empty {lang} text"


def test_placeholders_are_the_same_in_both_languages():
    import string

    for key, values in catalogue().items():
        fields = [{f for _, f, _, _ in string.Formatter().parse(values[lang]) if f} for lang in LANGUAGES]
        assert fields[0] == fields[1], f"{key}: placeholders differ between zh and en: {fields}"


def test_unknown_key_and_language_are_errors():
    with pytest.raises(KeyError):
        text("no.such.key", "en")
    with pytest.raises(ValueError):
        text("level.I", "fr")
    assert text("level.I", "en") == "Level I"
