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


def test_text_that_yaml_would_misread_is_refused(tmp_path, monkeypatch):
    """An unquoted yes/no is a YAML boolean (a report showed "True" for "yes"), and an unquoted comma in
    a flow mapping cuts the text into a second key (an audit label lost half its English)."""
    from importlib import resources

    import riskmodel.i18n as i18n

    for line in ('reports.x: {zh: 是, en: yes}', "audit.x: {zh: 甲, en: kappa, reviewed level vs the model}"):
        (tmp_path / "bad.yaml").write_text(line + "\n", encoding="utf-8")
        monkeypatch.setattr(resources, "files", lambda package: tmp_path)
        i18n.catalogue.cache_clear()
        try:
            with pytest.raises(ValueError, match="quote the text"):
                i18n.catalogue()
        finally:
            monkeypatch.undo()
            i18n.catalogue.cache_clear()
    assert text("reports.yes", "en") == "yes" and "reviewed level" in text("audit.loop.kappa", "en")


def test_review_words_are_the_contracts_and_policies_and_one_set_everywhere():
    """The review status and reviewer have one set of words (warning.value.*), the contract's (解除关注) and
    the policies' (心理教师); the decisions sheet's drop-down offers the same words a page shows."""
    from riskmodel.warning.export import DECISION_CHOICES
    from riskmodel.warning.localise import word

    assert word("review_status", "released", "zh") == "解除关注"
    assert word("reviewer_role", "psych_teacher", "zh") == "心理教师"
    assert word("reviewer_role", "", "zh") == "" and word("reviewer_role", "a_centres_own", "en") == "a_centres_own"
    for column, enum in (("status", "review_status"), ("reviewer_role", "reviewer_role")):
        for lang in ("zh", "en"):
            shown = {word(enum, code, lang) for code in DECISION_CHOICES[column][lang].values()}
            assert shown == set(DECISION_CHOICES[column][lang])
