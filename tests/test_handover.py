"""The handover between two installations, with real files: two synthetic centres, two key pairs.

Export one student's file from centre A, import it into centre B under B's own ID, and B's next run
sees the earlier screenings in its features and in the student file. A flipped byte, a truncated
packet, a wrong recipient, an unknown sender or a replay is refused with one line (exit 2) and
nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.handover.keys import HandoverError, init_keys, load_keys
from riskmodel.handover.seal import open_packet

AS_OF = date(2023, 12, 1)
SETTINGS = Settings()


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def centres(tmp_path_factory):
    """Two data folders (seeds 3 and 4), two key pairs, a student who left A and one who entered B."""
    from riskmodel.data import load_dataset
    from riskmodel.synth import generate, write

    root = tmp_path_factory.mktemp("handover")
    write(generate(students=300, years=2, seed=3), root / "a")
    write(generate(students=300, years=2, seed=4), root / "b")
    shutil.copytree(root / "b", root / "b-pristine")  # what the tests that must not import copy, whatever ran before
    init_keys(root / "keys-a", name="Centre A")
    init_keys(root / "keys-b", name="Centre B")
    init_keys(root / "keys-c", name="Centre C")
    a = load_dataset(root / "a", settings=SETTINGS)
    students, screenings = a.tables["students"], a.tables["screenings"]
    left = students[students["exit_date"].notna() & (students["exit_date"] <= "2023-08-31")]
    phq = screenings[screenings["student_id"].isin(left["student_id"]) & (screenings["instrument"] == "PHQ9")]
    sender_id = phq["student_id"].value_counts().index[0]
    b = load_dataset(root / "b", settings=SETTINGS)
    entered = b.tables["students"][b.tables["students"]["enrollment_date"] >= "2023-09-01"]
    receiver_id = entered["student_id"].iloc[0]
    # a run history at A: the student's levels and reasons at two monthly runs
    pseudonym = students.set_index("student_id").loc[sender_id, "pseudonym"]
    for as_of, level in (("2023-03-01", "III"), ("2023-04-01", "II")):
        run_dir = root / "reports-a" / f"run-{as_of}-x"
        (run_dir / "report_data").mkdir(parents=True)
        (run_dir / "manifest.json").write_text(json.dumps({"as_of": as_of, "finished": "2023"}), encoding="utf-8")
        pd.DataFrame({"as_of": [pd.Timestamp(as_of)], "pseudonym": [pseudonym], "level": [level], "score": [0.12],
                      "rank": [3], "rules": [""], "factors": ["PHQ-9 总分高"]}).to_parquet(run_dir / "report_data" /
                                                                                       "list.parquet")
    return {"root": root, "sender_id": sender_id, "receiver_id": receiver_id,
            "sender_dates": sorted(phq.loc[phq["student_id"] == sender_id, "date"].dt.date.astype(str))}


@pytest.fixture(scope="module")
def packet(centres):
    root = centres["root"]
    result = _cli("handover", "export", "--data", root / "a", "--student", centres["sender_id"], "--key", root / "keys-a",
                  "--to", root / "keys-b" / "centre.pub", "--out", root / "packet.rmh", "--runs", root / "reports-a")
    assert result.exit_code == 0, result.output
    # said to staff: the receiving centre by its name, the tables in words (it read 'centre.pub', 'screenings 6')
    assert "Centre B (" in result.output and "心理筛查" in result.output and "screenings" not in result.output
    return root / "packet.rmh"


def _features(data: Path, student_id: str) -> pd.Series:
    from riskmodel.data import load_dataset
    from riskmodel.features import build_features

    frame = build_features(load_dataset(data, settings=SETTINGS), [AS_OF], settings=SETTINGS)
    return frame.set_index("student_id").loc[student_id]


def test_keys_owner_only_refused_in_a_repository_and_never_overwritten(tmp_path):
    keys = init_keys(tmp_path / "k")
    assert oct((tmp_path / "k" / "centre.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o700"
    assert load_keys(tmp_path / "k").fingerprint == keys.fingerprint
    assert "PRIVATE" not in (tmp_path / "k" / "centre.pub").read_text() and "private" not in \
        json.loads((tmp_path / "k" / "centre.pub").read_text())["kind"]
    before = (tmp_path / "k" / "centre.key").read_bytes()
    with pytest.raises(HandoverError, match="never overwritten"):
        init_keys(tmp_path / "k")
    assert (tmp_path / "k" / "centre.key").read_bytes() == before
    inside = Path(__file__).resolve().parent / "keys-that-must-not-exist"
    result = _cli("keys", "init", inside)
    assert result.exit_code == 2 and "git work tree" in result.output and not inside.exists()
    (tmp_path / "k" / "centre.key").chmod(0o644)
    with pytest.raises(HandoverError, match="chmod 600"):
        load_keys(tmp_path / "k")


def test_packet_holds_the_file_signed_for_b_notes_withheld(centres, packet):
    root = centres["root"]
    raw = packet.read_bytes()
    assert oct(packet.stat().st_mode & 0o777) == "0o600"
    assert centres["sender_id"].encode() not in raw and b"PHQ9" not in raw  # nothing readable outside the envelope
    from riskmodel.handover.keys import load_public

    opened = open_packet(raw, own=load_keys(root / "keys-b"), sender=load_public(root / "keys-a" / "centre.pub"),
                         source="packet")
    payload = json.loads(opened.payload)
    assert centres["sender_id"] not in opened.payload.decode()  # the sending school's ID stays there
    phq = [r for r in payload["tables"]["screenings"] if r["instrument"] == "PHQ9"]
    assert [r["date"] for r in phq] == centres["sender_dates"]
    assert phq[0]["loinc"]["panel"] == "44249-1" and phq[0]["loinc"]["items"]["item_9"] == "44260-8"
    assert all(k in phq[0] for k in ("item_1", "item_9", "total", "band", "critical"))
    assert [r["level"] for r in payload["runs"]] == ["III", "II"]
    assert not any("note" in r for r in payload["tables"]["observations"] + payload["tables"]["counselling"])
    withheld = {w["what"] for w in payload["manifest"]["withheld"]}
    assert {"observations.note", "counselling.note", "student_id"} <= withheld
    assert set(payload["summary"]["sections"]) == {"problem", "causes", "behaviour", "family", "advice"}
    assert payload["summary"]["text"]["zh"]["advice"] and "不是临床评估" in payload["summary"]["label"]["zh"]


def test_include_notes_puts_the_notes_in(centres, tmp_path):
    root = centres["root"]
    from riskmodel.data import load_dataset
    from riskmodel.handover.keys import load_public

    observed = load_dataset(root / "a", settings=SETTINGS).tables["observations"]
    student = observed["student_id"].value_counts().index[0]
    out = tmp_path / "with-notes.rmh"
    result = _cli("handover", "export", "--data", root / "a", "--student", student, "--key", root / "keys-a",
                  "--to", root / "keys-b" / "centre.pub", "--out", out, "--include-notes")
    assert result.exit_code == 0, result.output
    payload = json.loads(open_packet(out.read_bytes(), own=load_keys(root / "keys-b"),
                                     sender=load_public(root / "keys-a" / "centre.pub"), source="p").payload)
    assert all("note" in r for r in payload["tables"]["observations"]) and payload["manifest"]["notes_included"]


@pytest.mark.parametrize("damage", ["flipped_byte", "truncated", "wrong_recipient", "unknown_sender"])
def test_bad_packets_refused_with_one_line_nothing_written(centres, packet, tmp_path, damage):
    root = centres["root"]
    data = tmp_path / "b"
    shutil.copytree(root / "b-pristine", data)
    before = _digest(data)
    raw = bytearray(packet.read_bytes())
    sender, key = root / "keys-a" / "centre.pub", root / "keys-b"
    if damage == "flipped_byte":
        raw[len(raw) // 2] ^= 0x01
    elif damage == "truncated":
        raw = raw[: len(raw) - 40]
    elif damage == "wrong_recipient":
        key = root / "keys-c"
    else:
        sender = root / "keys-c" / "centre.pub"
    bad = tmp_path / "bad.rmh"
    bad.write_bytes(bytes(raw))
    result = _cli("handover", "import", bad, "--data", data, "--key", key, "--from", sender,
                  "--as", centres["receiver_id"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "nothing imported" in result.output
    assert _digest(data) == before


def test_a_header_byte_flipped_is_refused_too(centres, packet, tmp_path):
    root = centres["root"]
    raw = packet.read_bytes()
    start = raw.index(b'"created":"') + len(b'"created":"')
    tampered = raw[:start] + (b"1" if raw[start:start + 1] != b"1" else b"2") + raw[start + 1:]
    with pytest.raises(HandoverError, match="integrity"):
        from riskmodel.handover.keys import load_public

        open_packet(tampered, own=load_keys(root / "keys-b"), sender=load_public(root / "keys-a" / "centre.pub"),
                    source="p")


def test_unknown_student_at_the_receiving_centre_refused(centres, packet, tmp_path):
    root = centres["root"]
    data = tmp_path / "b"
    shutil.copytree(root / "b-pristine", data)
    before = _digest(data)
    result = _cli("handover", "import", packet, "--data", data, "--key", root / "keys-b", "--from",
                  root / "keys-a" / "centre.pub", "--as", "NO-SUCH-STUDENT")
    assert result.exit_code == 2 and "students table" in result.output
    assert _digest(data) == before


@pytest.fixture(scope="module")
def imported(centres, packet):
    root = centres["root"]
    before = _features(root / "b", centres["receiver_id"])
    result = _cli("handover", "import", packet, "--data", root / "b", "--key", root / "keys-b", "--from",
                  root / "keys-a" / "centre.pub", "--as", centres["receiver_id"])
    assert result.exit_code == 0, result.output
    assert "Centre A (" in result.output  # the sender by name, not a bare fingerprint
    return before


def test_import_writes_owner_only_files_the_loader_reads(centres, imported):
    from riskmodel.data import load_dataset

    root = centres["root"]
    parts = sorted((root / "b").glob("*.handover-*.csv"))
    assert parts and all(oct(p.stat().st_mode & 0o777) == "0o600" for p in parts)
    record = next((root / "b" / "_handover").glob("*.json"))
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    assert oct((root / "b" / "_handover").stat().st_mode & 0o777) == "0o700"
    dataset = load_dataset(root / "b", settings=SETTINGS)
    rows = dataset.tables["screenings"]
    mine = rows[(rows["student_id"] == centres["receiver_id"]) & (rows["instrument"] == "PHQ9")]
    assert sorted(mine["date"].dt.date.astype(str)) [: len(centres["sender_dates"])] == centres["sender_dates"]
    assert mine["origin"].str.startswith("handover-").sum() == len(centres["sender_dates"])
    assert not any(name.startswith("screenings.handover") for name in dataset.skipped)


def test_replay_refused_nothing_written(centres, packet, imported):
    root = centres["root"]
    before = _digest(root / "b")
    result = _cli("handover", "import", packet, "--data", root / "b", "--key", root / "keys-b", "--from",
                  root / "keys-a" / "centre.pub", "--as", centres["receiver_id"])
    assert result.exit_code == 2 and "imported into" in result.output and "before" in result.output
    assert _digest(root / "b") == before


def test_next_run_sees_the_history_in_features_and_student_file(centres, imported, tmp_path):
    from riskmodel.data import load_dataset
    from riskmodel.features import build_features
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.reports.notebooks import NOTEBOOK_DIR, execute
    from riskmodel.reports.runner import run

    root, student = centres["root"], centres["receiver_id"]
    after = _features(root / "b", student)
    assert after["phq9_waves"] == imported["phq9_waves"] + len(centres["sender_dates"])
    dataset = load_dataset(root / "b", settings=SETTINGS)
    features = build_features(dataset, [AS_OF], settings=SETTINGS)
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  tmp_path / "model")
    result = run(root / "b", tmp_path / "model", AS_OF, tmp_path / "reports", settings=SETTINGS, jobs=2)
    assert result.exit_code == 0, result.failed
    pseudonym = dataset.tables["students"].set_index("student_id").loc[student, "pseudonym"]
    outcome = execute(NOTEBOOK_DIR / "40_student_file.ipynb", tmp_path / "s.ipynb", tmp_path / "s.html",
                      {"run_dir": str(result.run_dir), "pseudonym": pseudonym, "lang": "zh"})
    assert outcome["status"] == "ok", outcome["error"]
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert all(day in page for day in centres["sender_dates"]) and "原学校" in page
    assert "十、原学校交接摘要" in page and "2023-03-01预警运行：三级" in page and "不是临床评估" in page
    assert student not in page and centres["sender_id"] not in page
    # the same run's student file in English: the summary in English too (it stayed in the run's language)
    outcome = execute(NOTEBOOK_DIR / "40_student_file.ipynb", tmp_path / "s-en.ipynb", tmp_path / "s-en.html",
                      {"run_dir": str(result.run_dir), "pseudonym": pseudonym, "lang": "en"})
    assert outcome["status"] == "ok", outcome["error"]
    english = (tmp_path / "s-en.html").read_text(encoding="utf-8")
    assert "run of 2023-03-01: Level III" in english and "预警运行" not in english and "不是临床评估" not in english


@pytest.mark.parametrize("module", ["riskmodel.handover.keys", "riskmodel.handover.loinc", "riskmodel.handover.summary",
                                    "riskmodel.reports.report_data"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_records_after_the_students_exit_here_are_refused(centres, packet, tmp_path):
    """A packet whose records fall after the student left the receiving school (a wrong --as) is refused whole."""
    root = centres["root"]
    data = tmp_path / "b"
    shutil.copytree(root / "b-pristine", data)
    register = pd.read_csv(data / "students.csv", encoding="gb18030", dtype=str, keep_default_na=False)
    register.loc[register["student_id"] == centres["receiver_id"], "exit_date"] = "2022-09-15"
    register.loc[register["student_id"] == centres["receiver_id"], "enrollment_date"] = "2022-09-01"
    register.to_csv(data / "students.csv", encoding="gb18030", index=False)
    before = _digest(data)
    result = _cli("handover", "import", packet, "--data", data, "--key", root / "keys-b", "--from",
                  root / "keys-a" / "centre.pub", "--as", centres["receiver_id"])
    assert result.exit_code == 2 and "outside_enrolment" in result.output, result.output
    assert _digest(data) == before


def test_the_summary_reads_in_each_language_without_dangling_commas_or_foreign_text():
    """Found rendering a demo's handover: 'SCL-90：总分122，' (no band: a dangling comma), the risk as
    0.0237, '1 observations', and the sending list's Chinese reasons in the English summary unmarked."""
    from riskmodel.handover.summary import render

    screening = {"key": "handover.summary.latest_screening",
                 "params": {"date": "2023-03-24", "instrument": "SCL90", "total": 122, "band": "", "positive": True}}
    assert render(screening, "zh").endswith("总分122，筛查阳性")
    assert render(screening, "en").endswith("total 122, positive screen")
    banded = {**screening, "params": {**screening["params"], "band": "moderate", "positive": False}}
    assert render(banded, "en").endswith("total 122, moderate")
    level = {"key": "handover.summary.level", "params": {"date": "2025-01-01", "level": "I", "score": 0.0237}}
    assert "2.4%" in render(level, "zh") and "0.0237" not in render(level, "en")
    parent = {"key": "handover.summary.parent_reports", "params": {"n": 1}}
    assert render(parent, "en") == "observations reported by a parent: 1"
    factors = {"key": "handover.summary.factors", "params": {"date": "2025-01-01", "factors": "出勤：近一个月无故缺勤4次"}}
    assert "as the sending school's list wrote them" in render(factors, "en")
    assert "原文" not in render(factors, "zh")
