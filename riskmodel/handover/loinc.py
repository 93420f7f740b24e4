"""LOINC codes of the PHQ-9 and GAD-7, so that other systems can read a packet's answers.

Sources (checked 2026-12; the LOINC panel pages are the authority):

* PHQ-9 panel 44249-1 "PHQ-9 quick depression assessment panel" (https://loinc.org/44249-1); item
  codes in item order as the panel lists them, and as HL7 FHIR questionnaires built from it carry
  them (e.g. the FHIR SDC PHQ-9 questionnaire; HL7 personal-health-record-format-ig); total score
  44261-6 (https://loinc.org/44261-6).
* GAD-7 panel 69737-5 "Generalized anxiety disorder 7 item (GAD-7)" (https://loinc.org/69737-5); item
  codes in item order as in the HL7 personal-health-record-format-ig GAD-7 QuestionnaireResponse
  example. The GAD-7 total score code was not confirmed against a source here, so it is not tagged.

Other instruments (UPI, SCL-90, SDS, SAS, MHT) have no LOINC panel the packet relies on: their rows
carry ``instrument`` and ``item_N`` only.
"""

from __future__ import annotations

__all__ = ["ITEMS", "PANELS", "TOTALS", "tag"]

PANELS: dict[str, str] = {"PHQ9": "44249-1", "GAD7": "69737-5"}
ITEMS: dict[str, tuple[str, ...]] = {
    "PHQ9": ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"),
    "GAD7": ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
}
TOTALS: dict[str, str] = {"PHQ9": "44261-6"}


def tag(instrument: str) -> dict | None:
    """The LOINC tags of an instrument's administration (``panel``, ``items`` by item column, ``total``).

    Example
    -------
    >>> tag("GAD7")["items"]["item_2"], tag("UPI") is None
    ('68509-9', True)
    """
    if instrument not in PANELS:
        return None
    out = {"system": "http://loinc.org", "panel": PANELS[instrument],
           "items": {f"item_{k}": code for k, code in enumerate(ITEMS[instrument], start=1)}}
    if instrument in TOTALS:
        out["total"] = TOTALS[instrument]
    return out
