"""`riskmodel score-screenings`: a centre's raw export in, one row per administration out."""

from __future__ import annotations

import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app

runner = CliRunner()


def export(path, rows):
    """Write a raw screenings export with Chinese headers, as a centre's system would."""
    width = max(len(answers) for _, _, answers in rows)
    records = []
    for sid, code, answers in rows:
        record = {"学号": sid, "测评日期": "2026/03/01", "量表": code}
        record.update({f"第{k}题": a for k, a in enumerate(answers, start=1)})
        record.update({f"第{k}题": "" for k in range(len(answers) + 1, width + 1)})
        records.append(record)
    frame = pd.DataFrame(records)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, encoding="gb18030")
    else:
        frame.to_excel(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_scores_and_rejected_rows_are_written(tmp_path, suffix):
    src = export(tmp_path / ("export.csv" if suffix != ".xlsx" else "export.xlsx"), [
        ("2025001", "PHQ9", [1] * 9),
        ("2025002", "PHQ9", [0] * 8 + [4]),            # out of range: rejected with its reason
        ("@2025003", "SCL90", [1] * 90),
        ("2025004", "UPI", [0] * 24 + [1] + [0] * 39),  # item 25 "yes": class 1, critical
    ])
    out = tmp_path / "out" / f"scores{suffix}"
    result = runner.invoke(app, ["score-screenings", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rejected_file = tmp_path / "out" / f"scores_rejected{suffix}"
    for path in (out, rejected_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reader = {".csv": lambda p: pd.read_csv(p, encoding="utf-8-sig", dtype={"student_id": str}),
              ".xlsx": lambda p: pd.read_excel(p, dtype={"student_id": str}), ".parquet": pd.read_parquet}[suffix]
    scored = reader(out)
    assert len(scored) == 3
    by_id = scored.set_index("student_id")
    assert by_id.loc["2025001", "total"] == 9 and by_id.loc["2025001", "critical_items"] == "item_9"
    assert by_id.loc["2025004", "classification"] == "class_1"
    formula_safe = "'@2025003" if suffix != ".parquet" else "@2025003"
    assert by_id.loc[formula_safe, "classification"] == "negative"
    assert "sub_depression" in scored.columns and "sub_loneliness" not in scored.columns  # no MHT in the file
    rejected = reader(rejected_file)
    reason = rejected.loc[0, "reason"]  # in the report language (zh by default)
    assert len(rejected) == 1 and "item_9 = 4" in reason and "0-3" in reason


def test_refuses_to_overwrite_the_input_and_unknown_suffix(tmp_path):
    src = export(tmp_path / "export.csv", [("1", "GAD7", [0] * 7)])
    result = runner.invoke(app, ["score-screenings", str(src), "--out", str(src)])
    assert result.exit_code == 3 and "overwrite the input" in result.output  # an output problem (issue 12)
    result = runner.invoke(app, ["score-screenings", str(src), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 2 and ".csv, .xlsx, .parquet" in result.output
    result = runner.invoke(app, ["score-screenings", str(src), "--out", str(tmp_path / "x.csv"), "--stage", "kinder"])
    assert result.exit_code == 2 and "--stage" in result.output


def test_stage_selects_the_phq9_cutoff(tmp_path):
    src = export(tmp_path / "export.csv", [("1", "PHQ9", [2, 2, 2, 2, 2, 0, 0, 0, 0])])  # total 10
    for stage, positive in (("university", True), ("junior", False)):
        out = tmp_path / f"{stage}.parquet"
        result = runner.invoke(app, ["score-screenings", str(src), "--out", str(out), "--stage", stage])
        assert result.exit_code == 0, result.output
        assert bool(pd.read_parquet(out).loc[0, "positive"]) is positive
