"""The synthetic cohort: contract form, integrity, determinism, the loader, the generative story."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.config import Settings
from riskmodel.data.dataset import contract
from riskmodel.errors import ConfigError
from riskmodel.instruments import all_specs
from riskmodel.synth import generate, write

START = date(2022, 9, 1)


@pytest.fixture(scope="module")
def university():
    return generate(students=800, years=2, stage="university", seed=7)


@pytest.fixture(scope="module")
def district():
    return generate(students=900, years=2, stage="k12", seed=8)


@pytest.fixture(scope="module")
def written(university, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synth") / "university"
    write(university, folder)
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_in_every_file(written, tmp_path):
    again = tmp_path / "again"
    write(generate(students=800, years=2, stage="university", seed=7), again)
    first, second = _digests(written), _digests(again)
    assert set(first) >= {"students.csv", "screenings.parquet", "calendar.xlsx", "_truth/student_months.parquet"}
    assert first == second
    other = tmp_path / "other"
    write(generate(students=800, years=2, stage="university", seed=9), other)
    assert _digests(other)["screenings.parquet"] != first["screenings.parquet"]


def test_files_use_the_promised_formats_and_encodings(written):
    raw = (written / "students.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # GB18030, as centres' office exports are
    assert "青溪大学" in raw.decode("gb18030")
    assert (written / "observations.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    assert (written / "calendar.xlsx").read_bytes()[:2] == b"PK"
    assert (written / "screenings.parquet").read_bytes()[:4] == b"PAR1"
    assert oct((written / "students.csv").stat().st_mode & 0o777) == "0o600"
    header = raw.decode("gb18030").splitlines()[0].split(",")
    assert header[:4] == ["student_id", "name", "school", "college"]


@pytest.mark.parametrize("cohort_name", ["university", "district"])
def test_tables_follow_the_contract(cohort_name, request):
    cohort = request.getfixturevalue(cohort_name)
    spec = contract()
    assert set(cohort.tables) == set(spec["tables"])
    for name, frame in cohort.tables.items():
        columns = spec["tables"][name]["columns"]
        extra = [c for c in frame.columns if c not in columns and not c.startswith("item_")]
        assert not extra, (name, extra)
        for column, meta in columns.items():
            if meta.get("required"):
                assert column in frame.columns and frame[column].notna().all(), (name, column)
            if meta.get("type") == "enum" and column in frame.columns:
                allowed = set(spec["enums"][meta["enum"]])
                assert set(frame[column].dropna().unique()) <= allowed, (name, column)
            if "min" in meta and column in frame.columns and frame[column].notna().any():
                values = frame[column].dropna()
                assert values.min() >= meta["min"] and values.max() <= meta.get("max", np.inf), (name, column)
    students = cohort.tables["students"]
    assert set(spec["family_flags"]) <= set(students.columns)
    assert students["student_id"].is_unique


@pytest.mark.parametrize("cohort_name", ["university", "district"])
def test_every_item_answer_is_in_its_instrument_range(cohort_name, request):
    screenings = request.getfixturevalue(cohort_name).tables["screenings"]
    for code, rows in screenings.groupby("instrument"):
        spec = all_specs()[code]
        answers = rows[list(spec.item_columns)].astype(float)
        assert answers.notna().all().all(), code
        assert answers.min().min() >= spec.response_min and answers.max().max() <= spec.response_max, code
        beyond = [c for c in rows.columns if c.startswith("item_") and int(c[5:]) > spec.n_items]
        assert rows[beyond].isna().all().all(), code


@pytest.mark.parametrize("cohort_name", ["university", "district"])
def test_references_keys_and_dates_inside_enrolment(cohort_name, request):
    cohort = request.getfixturevalue(cohort_name)
    students = cohort.tables["students"].set_index("student_id")
    keys = {"screenings": ["student_id", "date", "instrument"], "academics": ["student_id", "term_end"],
            "attendance": ["student_id", "date"]}
    for name, frame in cohort.tables.items():
        if name in ("students", "calendar"):
            continue
        assert len(frame), name
        assert frame["student_id"].isin(students.index).all(), name
        dated = "term_end" if name == "academics" else "date"
        enrol = frame["student_id"].map(students["enrollment_date"])
        leave = frame["student_id"].map(students["exit_date"])
        assert (frame[dated] >= enrol).all(), name
        assert ((frame[dated] <= leave) | leave.isna()).all(), name
        assert frame[dated].between(pd.Timestamp(cohort.start), pd.Timestamp(cohort.end), inclusive="left").all()
        if name in keys:
            assert not frame.duplicated(keys[name]).any(), name
    assert (students["exit_date"].dropna() > students.loc[students["exit_date"].notna(), "enrollment_date"]).all()


def test_university_hierarchy(university):
    students = university.tables["students"]
    assert students["school"].nunique() == 1 and students["college"].nunique() == 20
    on_first_day = students[(students["enrollment_date"] <= pd.Timestamp(START))
                            & ~(students["exit_date"] <= pd.Timestamp(START))]
    assert on_first_day["grade"].nunique() == 4  # all four grades from the window's first day
    class_sizes = students.groupby("class_id").size()
    assert class_sizes.max() <= 30 and class_sizes.median() >= 5
    assert (students.groupby("class_id")[["college", "grade"]].nunique() == 1).all().all()
    dorms = students.groupby("dorm_id")
    assert dorms.size().max() <= 6 and (dorms["gender"].nunique() == 1).all()
    graduates = students.dropna(subset=["exit_date"])
    assert graduates["exit_date"].dt.month.isin([6, 7, 8, 9, 10, 11, 12, 1, 2, 3, 4, 5]).all()


def test_district_hierarchy(district):
    students = district.tables["students"]
    assert students["school"].nunique() >= 4
    assert set(students["stage"]) == {"primary", "junior", "senior"}
    assert students["college"].isna().all()
    assert (students.groupby("school")["stage"].nunique() == 1).all()
    instruments = set(district.tables["screenings"]["instrument"])
    assert {"MHT", "PHQ9", "GAD7"} <= instruments and "UPI" not in instruments
    exams = district.tables["calendar"].query("kind == 'major_event'")
    assert set(exams["name"]) >= {"高考", "中考"} and exams["school"].notna().all()


def test_calendar_has_every_kind(university):
    calendar = university.tables["calendar"]
    assert set(calendar["kind"]) == set(contract()["enums"]["calendar_kind"])
    assert (calendar["end"] >= calendar["start"]).all()


def test_every_instrument_is_generated_with_careless_answering(university, district):
    screenings = pd.concat([university.tables["screenings"], district.tables["screenings"]])
    assert set(screenings["instrument"]) == set(all_specs())
    per_item = screenings["duration_seconds"] / screenings["instrument"].map(
        {c: s.n_items for c, s in all_specs().items()})
    assert 0.005 < (per_item < 2.0).mean() < 0.05
    upi = university.tables["screenings"].query("instrument == 'UPI'")
    assert upi["counselling_request"].notna().all()
    assert university.tables["screenings"].query("instrument != 'UPI'")["counselling_request"].isna().all()


def test_answers_follow_the_latent_state(university):
    """PHQ-9 totals track distress; item 9 concentrates at high distress; SDS reverse items run backwards."""
    screenings, truth = university.tables["screenings"], university.truth["student_months"]
    phq = screenings.query("instrument == 'PHQ9' and duration_seconds >= 18").copy()  # careful answers
    phq = phq[phq[[f"item_{k}" for k in range(1, 10)]].nunique(axis=1) > 1]
    phq["month"] = phq["date"].dt.to_period("M").dt.to_timestamp()
    joined = phq.merge(truth, on=["student_id", "month"])
    total = joined[[f"item_{k}" for k in range(1, 10)]].astype(float).sum(axis=1)
    assert np.corrcoef(total, joined["distress"])[0, 1] > 0.5
    item9 = joined["item_9"].astype(float) >= 1
    assert 0 < item9.mean() < 0.15
    assert joined.loc[item9, "distress"].mean() > joined["distress"].quantile(0.85)
    sds = screenings.query("instrument == 'SDS'")
    forward = sds[[f"item_{k}" for k in (1, 3, 4, 7, 8)]].astype(float).sum(axis=1)
    assert np.corrcoef(forward, sds["item_2"].astype(float))[0, 1] < 0  # item 2 is reverse-keyed


def test_signals_thicken_with_distress_and_before_outcomes(university):
    truth = university.truth["student_months"]
    tables = university.tables
    obs = tables["observations"].assign(month=tables["observations"]["date"].dt.to_period("M").dt.to_timestamp())
    per_month = obs.groupby(["student_id", "month"]).size().rename("n")
    joined = truth.join(per_month, on=["student_id", "month"]).fillna({"n": 0})
    high = joined["distress"] > joined["distress"].quantile(0.9)
    assert joined.loc[high, "n"].mean() > 2.5 * joined.loc[~high, "n"].mean()
    hit = truth["student_id"].isin(tables["outcomes"]["student_id"])
    assert truth.loc[hit, "distress"].mean() > truth.loc[~hit, "distress"].mean() + 0.3
    interviewed = tables["counselling"].query("kind == 'interview'")["student_id"]
    assert interviewed.nunique() > 0


@pytest.fixture(scope="module")
def larger():
    return generate(students=6000, years=2, stage="university", seed=5)


def _as_of_frame(cohort, horizon_days: int = 90) -> pd.DataFrame:
    """Student x as-of month (first days, the window's 3rd month to its 4th-last): the truth's risks, a
    score from the observation log (severity >= 2 entries in the 30 days before), the 90-day outcome."""
    truth, obs, out = cohort.truth["student_months"], cohort.tables["observations"], cohort.tables["outcomes"]
    frames = []
    for as_of in sorted(truth["month"].unique())[2:-3]:
        rows = truth[truth["month"] == as_of].set_index("student_id")
        ahead = out[(out["date"] > as_of) & (out["date"] <= as_of + pd.Timedelta(days=horizon_days))]
        recent = obs[(obs["date"] >= as_of - pd.Timedelta(days=30)) & (obs["date"] < as_of) & (obs["severity"] >= 2)]
        frames.append(pd.DataFrame({
            "risk_90d": rows["risk_90d"], "risk_90d_state": rows["risk_90d_state"],
            "observed": recent.groupby("student_id").size().reindex(rows.index, fill_value=0),
            "y": rows.index.isin(ahead["student_id"])}))
    return pd.concat(frames)


def test_truth_is_the_ceiling_no_observation_foretells_an_outcome(larger):
    """The observation log is drawn from the latent state, never from a later outcome, so the truth's
    realised-path risk ranks the next 90 days' outcomes far better than recent observations do (the old
    generator planted entries before outcomes and its truth lost to them)."""
    from sklearn.metrics import average_precision_score

    frame = _as_of_frame(larger)
    assert frame["y"].sum() > 300
    truth_ap = average_precision_score(frame["y"], frame["risk_90d"])
    state_ap = average_precision_score(frame["y"], frame["risk_90d_state"])
    observed_ap = average_precision_score(frame["y"], frame["observed"])
    assert truth_ap > 2.5 * observed_ap and truth_ap > state_ap > observed_ap, (truth_ap, state_ap, observed_ap)
    assert observed_ap > 1.5 * frame["y"].mean()  # the log still carries signal


def test_acute_phases_are_causal_partly_noticed_and_hold_about_half_the_outcomes(larger):
    truth, obs = larger.truth, larger.tables["observations"]
    assert 0.35 <= truth["outcomes"]["in_acute"].mean() <= 0.65
    months = truth["student_months"]
    serious = obs[obs["severity"] >= 2]
    seen = serious.groupby(["student_id", serious["date"].dt.to_period("M").dt.to_timestamp()]).size()
    joined = months.join(seen.rename("n").rename_axis(["student_id", "month"]), on=["student_id", "month"])
    noticed = joined["n"].fillna(0) > 0
    in_acute = joined["acute"] > 0.5  # most of the month in an acute phase
    assert 0.3 < noticed[in_acute].mean() < 0.8  # teachers notice some acute phases, not all
    assert noticed[in_acute].mean() > 5 * noticed[~in_acute].mean()
    assert (months.loc[in_acute, "hazard"].mean() > 5 * months.loc[months["acute"].eq(0), "hazard"].mean())


def test_observations_do_not_depend_on_which_outcomes_get_recorded():
    everyone = generate(students=800, years=2, seed=7)
    fewer = generate(students=800, years=2, seed=7, under_recorded=("gender=F", 0.0))
    assert len(fewer.tables["outcomes"]) < len(everyone.tables["outcomes"])
    pd.testing.assert_frame_equal(everyone.tables["observations"], fewer.tables["observations"])
    pd.testing.assert_frame_equal(everyone.truth["student_months"], fewer.truth["student_months"])


def test_truth_is_complete_and_consistent(university):
    truth = university.truth
    months = truth["student_months"]
    assert months["hazard"].between(0, 1).all() and months["risk_90d"].dropna().between(0, 1).all()
    recorded = university.tables["outcomes"]
    assert len(truth["outcomes"]) >= len(recorded) and truth["outcomes"]["recorded"].all()
    assert set(truth["students"]["student_id"]) == set(university.tables["students"]["student_id"])
    assert not any(c in university.tables["students"].columns for c in ("vulnerability", "distress"))


def test_under_recorded_group_loses_outcomes_but_truth_keeps_them():
    cohort = generate(students=800, years=2, seed=7, under_recorded=("left_behind", 0.0))
    students = cohort.tables["students"]
    left_behind = set(students.loc[students["left_behind"].fillna(False).astype(bool), "student_id"])
    assert not cohort.tables["outcomes"]["student_id"].isin(left_behind).any()
    lost = cohort.truth["outcomes"].query("~recorded")
    assert len(lost) > 0 and lost["student_id"].isin(left_behind).all()
    lost_kinds = cohort.tables["counselling"]
    assert not lost_kinds[lost_kinds["kind"].isin(["hospital", "leave_of_absence"])]["student_id"].isin(
        set(lost["student_id"]) - set(cohort.tables["outcomes"]["student_id"])).any()
    women = generate(students=400, years=1, seed=3, under_recorded=("gender=F", 0.0))
    female = women.tables["students"].query("gender == 'F'")["student_id"]
    assert not women.tables["outcomes"]["student_id"].isin(female).any()


@pytest.mark.parametrize("bad", [dict(stage="college"), dict(years=0), dict(under_recorded=("left_behnd", 0.3)),
                                 dict(under_recorded=("house=1", 0.3)), dict(under_recorded=("gender=F", 1.5))])
def test_bad_arguments_raise_config_errors(bad):
    with pytest.raises(ConfigError):
        generate(**{"students": 100, "years": 1, **bad})


@pytest.mark.parametrize("cohort_name", ["written", "district"])
def test_the_loader_accepts_everything_with_zero_rejected_rows(cohort_name, request, tmp_path):
    load = pytest.importorskip("riskmodel.data").load_dataset
    if cohort_name == "written":
        folder = request.getfixturevalue("written")
    else:
        folder = tmp_path / "district"
        write(request.getfixturevalue("district"), folder)
    dataset = load(folder, settings=Settings())
    assert len(dataset.rejected) == 0, dataset.rejected.groupby(["table", "column", "reason"]).size()
    assert "name" not in dataset.tables["students"].columns  # exported like a real register, dropped on load
    assert set(dataset.tables) == set(contract()["tables"])
    assert (dataset.summary["rejected"] == 0).all()
    students = pd.read_csv(folder / "students.csv", encoding="gb18030", dtype=str) if cohort_name == "written" else None
    if students is not None:
        assert len(dataset.tables["students"]) == len(students)


def test_cli_writes_a_cohort_and_refuses_a_non_empty_folder(tmp_path):
    from riskmodel.cli import app

    runner = CliRunner()
    out = tmp_path / "demo"
    result = runner.invoke(app, ["synth", "--out", str(out), "--students", "200", "--years", "1", "--seed", "2",
                                 "--stage", "k12"])
    assert result.exit_code == 0, result.output
    assert (out / "students.csv").exists() and (out / "_truth" / "student_months.parquet").exists()
    again = runner.invoke(app, ["synth", "--out", str(out), "--students", "200", "--years", "1"])
    assert again.exit_code == 2
    wrong = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), "--stage", "college"])
    assert wrong.exit_code == 2 and not (tmp_path / "x").exists()


def test_tables_are_in_canonical_form_and_files_in_export_form(university, written):
    students, screenings = university.tables["students"], university.tables["screenings"]
    assert "name" not in students.columns and "pseudonym" not in students.columns
    assert all(screenings[c].dtype == np.float32 for c in screenings.columns if c.startswith("item_"))
    assert str(students["left_behind"].dtype) == "boolean"
    assert all(str(students[c].dtype) == "datetime64[ns]" for c in ("enrollment_date", "exit_date", "birth_date"))
    exported = pd.read_csv(written / "students.csv", encoding="gb18030", dtype=str)
    assert exported["name"].str.len().between(2, 3).all()  # invented names, as exports carry them
    on_disk = pd.read_parquet(written / "screenings.parquet")
    assert str(on_disk["item_1"].dtype) == "Int8"


def test_cli_plants_under_recording(tmp_path):
    from riskmodel.cli import app

    out = tmp_path / "planted"
    result = CliRunner().invoke(app, ["synth", "--out", str(out), "--students", "300", "--years", "1",
                                      "--under-recorded", "gender=F:0"])
    assert result.exit_code == 0, result.output
    students = pd.read_csv(out / "students.csv", encoding="gb18030", dtype=str)
    outcomes = pd.read_csv(out / "outcomes.csv", dtype=str)
    assert not outcomes["student_id"].isin(students.loc[students["gender"] == "F", "student_id"]).any()
    truth = pd.read_parquet(out / "_truth" / "outcomes.parquet")
    assert (~truth["recorded"]).sum() > 0
    bad = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "bad"), "--under-recorded", "left_behind"])
    assert bad.exit_code == 2


def test_calendar_treatment_absences_and_grades_follow_the_story(university):
    truth, tables = university.truth["student_months"], university.tables
    by_month = truth.groupby(truth["month"].dt.month)["distress"].mean()
    assert by_month[[9, 3]].min() > by_month[[7, 8, 2]].max()  # term starts strain, holidays relieve
    # outside acute phases: an acute month's hazard is ~20 times higher, too heavy-tailed for 800 students
    calm = truth[~truth["after_outcome"] & truth["acute"].eq(0)]
    band = pd.cut(calm["distress"], [0.5, 1.5, 2.5])
    hazard = calm.groupby([band, "treated"], observed=True)["hazard"].mean().unstack()
    assert (hazard[True] < 0.9 * hazard[False]).all()  # the intervention effect, at the same distress
    absences = tables["attendance"].query("status == 'absent_unexcused'")
    per_month = absences.groupby(["student_id", absences["date"].dt.to_period("M").dt.to_timestamp()]).size()
    joined = truth.join(per_month.rename("n").rename_axis(["student_id", "month"]), on=["student_id", "month"])
    joined["n"] = joined["n"].fillna(0)
    high = joined["distress"] > joined["distress"].quantile(0.9)
    assert joined.loc[high, "n"].mean() > 1.5 * joined.loc[~high, "n"].mean()
    grades = tables["academics"].merge(university.truth["students"], on="student_id")
    assert np.corrcoef(grades["mean_score"], grades["vulnerability"])[0, 1] < -0.1


def test_loading_the_files_gives_back_the_tables(university, written):
    """Round trip: what load_dataset reads from the files is the in-memory cohort, value for value."""
    from riskmodel.data import load_dataset

    dataset = load_dataset(written, settings=Settings())
    for name, expected in university.tables.items():
        loaded = dataset.tables[name].drop(columns=["pseudonym"], errors="ignore")
        assert list(loaded.columns) == list(expected.columns), name
        pd.testing.assert_frame_equal(loaded.reset_index(drop=True), expected, check_dtype=True, obj=name)
