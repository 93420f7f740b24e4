"""Issue 17 (scale-validate): ``riskmodel validate --store`` chunk by chunk equals the whole-file loader.

A real two-school district from the generator, made messy on purpose: a title line above the
register's header, duplicates far apart (across chunks) in the register, the academics and the
screenings, a register row rejected (its records then name it), a blanked cell (and a later copy of
that row), invisible characters in IDs in several chunks, records of unknown students, a quoted note
with a line break inside, a future date, a CSV cut off mid-line, screenings in Parquet with many row
groups. Validated into a store with chunks of three rows, it must equal the store the whole-file
loader writes (every table, every rejected row and its order, the summary, the notes).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskmodel.config import Settings


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    from riskmodel.synth import generate_schools, write_schools

    folder = tmp_path_factory.mktemp("messy") / "data"
    write_schools(generate_schools(schools=2, students=60, years=1, seed=5), folder)
    # the register (GB18030): a title line, a rejected row, a blanked cell, duplicates far apart, invisible IDs
    students = (folder / "students.csv").read_bytes().decode("gb18030").split("\n")
    header, rows = students[0], [r for r in students[1:] if r]
    columns = header.split(",")
    cells = [r.split(",") for r in rows]
    at = {name: columns.index(name) for name in ("student_id", "enrollment_date", "birth_date")}
    cells[4][at["enrollment_date"]] = "2023-13-45"  # required: the row is rejected
    cells[5][at["birth_date"]] = "2024-02-30"  # optional: the cell is blanked
    cells[7][at["student_id"]] = "\u200b" + cells[7][at["student_id"]]  # invisible characters, two chunks apart
    cells[40][at["student_id"]] = cells[40][at["student_id"]] + "\u200b"
    cells.append(list(cells[1]))  # a duplicate ~100 rows after its first copy
    cells.append(list(cells[5]))  # a later copy of the row with a blanked cell
    lines = ["2024级学生名单（导出）", header, *(",".join(c) for c in cells)]
    (folder / "students.csv").write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    rejected_id = cells[4][at["student_id"]]
    known_id = cells[10][at["student_id"]]
    # observations (UTF-8 with BOM): a quoted note with a line break, records of unknown and rejected students
    observations = (folder / "observations.csv").read_text(encoding="utf-8-sig").split("\n")
    body = [r for r in observations[1:] if r]
    body.insert(3, f'{known_id},2023-10-02,counsellor,mood,2,"第一行\n第二行，有逗号"')
    body.insert(10, "X00000,2023-10-03,counsellor,mood,1,")
    body.insert(20, f"{rejected_id},2023-10-04,counsellor,mood,1,")
    body.append(f"{known_id},2099-01-01,counsellor,mood,1,")
    (folder / "observations.csv").write_text("\n".join([observations[0], *body]) + "\n", encoding="utf-8-sig")
    # academics (key student_id, term_end): the first record again at the end
    academics = (folder / "academics.csv").read_text(encoding="utf-8-sig").rstrip("\n").split("\n")
    (folder / "academics.csv").write_text("\n".join([*academics, academics[1]]) + "\n", encoding="utf-8-sig")
    # life events: cut off in the middle of its last line
    events = (folder / "life_events.csv").read_bytes().rstrip(b"\n")
    (folder / "life_events.csv").write_bytes(events[: events.rfind(b",")])
    # screenings (Parquet, row groups of 7): a duplicate at the end and an answer out of range
    screenings = pd.read_parquet(folder / "screenings.parquet")
    bad = screenings.iloc[[2]].copy()
    bad["date"] = pd.Timestamp("2023-11-30")
    item = next(c for c in screenings.columns if str(c).startswith("item_"))
    bad[item] = 9
    screenings = pd.concat([screenings, screenings.iloc[[0]], bad], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(screenings, preserve_index=False), folder / "screenings.parquet",
                   row_group_size=7)
    return folder


def _whole(folder, path):
    from riskmodel.data.load import load_validated
    from riskmodel.data.store import write_store

    validated = load_validated(folder, settings=Settings())
    write_store(validated.dataset, path, reference=validated.reference, fingerprint=validated.fingerprint,
                notes=validated.notes)
    return validated


def _assert_same_store(a, b):
    from riskmodel.data.store import Store, open_store

    left, right = open_store(a), open_store(b)
    assert left.checksum == right.checksum
    assert list(left.tables) == list(right.tables)
    for name, frame in left.tables.items():
        pd.testing.assert_frame_equal(frame, right.tables[name], check_exact=True, obj=name)
    pd.testing.assert_frame_equal(left.rejected, right.rejected, check_exact=True)
    pd.testing.assert_frame_equal(left.summary, right.summary, check_exact=True)
    assert [list(r) for r in left.summary["by_reason"].map(dict.items)] == \
        [list(r) for r in right.summary["by_reason"].map(dict.items)]  # the order of the reasons too
    assert left.skipped == right.skipped and left.files == right.files
    with Store(a) as one, Store(b) as two:
        assert one.schools() == two.schools()
        for school in one.schools():
            for name, frame in one.school(school).tables.items():
                pd.testing.assert_frame_equal(frame, two.school(school).tables[name], check_exact=True)
        ref_a, ref_b = one.reference(), two.reference()
        pd.testing.assert_frame_equal(ref_a.accepted, ref_b.accepted, check_exact=True)
        pd.testing.assert_series_equal(ref_a.rejected_rows, ref_b.rejected_rows, check_exact=True)
        assert one.meta["notes"] == two.meta["notes"] and one.meta["by_school"] == two.meta["by_school"]


@pytest.mark.parametrize("rows", [3, 1_000_000])
def test_chunked_store_equals_the_whole_file_loader(messy, tmp_path, rows):
    from riskmodel.data.ingest import validate_into_store

    validated = _whole(messy, tmp_path / "whole.duckdb")
    rejected = validated.dataset.rejected
    # the fixture holds what it is meant to: every kind of problem planted above
    from riskmodel.i18n import text

    lang = Settings().reports.lang
    counts: dict[str, int] = {}
    for reasons in validated.dataset.summary["by_reason"]:
        for label, n in reasons.items():
            counts[label] = counts.get(label, 0) + n
    for code, n in {"duplicate": 4, "unknown_student": 1, "rejected_student": 18, "truncated": 1,
                    "outside_enrolment": 1, "not_a_date": 3, "answers": 1}.items():
        assert counts.get(text(f"data.code.{code}", lang), 0) >= n, code
    assert (rejected["action"] == "cell_blanked").sum() == 1  # its later copy: rejected as a duplicate
    assert any("student_id" in note for note in validated.dataset.skipped)  # invisible characters, summed
    ingested = validate_into_store(messy, tmp_path / "chunked.duckdb", settings=Settings(), chunk_rows=rows)
    _assert_same_store(tmp_path / "whole.duckdb", tmp_path / "chunked.duckdb")
    assert ingested.students == len(validated.dataset.table("students"))
    pd.testing.assert_frame_equal(ingested.dataset.rejected, rejected, check_exact=True)


def test_cli_store_is_chunked_reused_and_atomic(messy, tmp_path, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    import riskmodel.data.ingest as ingest
    from riskmodel.cli import app

    data = tmp_path / "data"
    shutil.copytree(messy, data)
    store, rejected = tmp_path / "s.duckdb", tmp_path / "rejected.csv"
    config = tmp_path / "config.yaml"
    config.write_text("data:\n  chunk_rows: 5\n")
    read: list[str] = []
    original = ingest._chunks

    def spy(path, table, *args, **kwargs):
        read.append(table)
        return original(path, table, *args, **kwargs)

    monkeypatch.setattr(ingest, "_chunks", spy)

    def validate():
        result = CliRunner().invoke(app, ["validate", str(data), "--store", str(store), "--rejected", str(rejected),
                                          "--config", str(config)])
        return result

    assert validate().exit_code == 0
    _whole(data, tmp_path / "whole.duckdb")
    _assert_same_store(tmp_path / "whole.duckdb", store)
    written = rejected.read_bytes()
    # a record file broken in a later chunk: exit 2 naming it, the store as it was
    before = store.read_bytes()
    counselling = (data / "counselling.csv").read_text(encoding="utf-8-sig").split("\n")
    counselling[100] = counselling[100] + ",one,cell,too,many"
    (data / "counselling.csv").write_text("\n".join(counselling), encoding="utf-8-sig")
    read.clear()
    result = validate()
    assert result.exit_code == 2, result.output
    assert "counselling.csv" in result.output  # the loader's message (pandas names no line here)
    assert read[:2] == ["students", "screenings"] or "students" not in read  # re-read up to the broken file
    assert store.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".s.duckdb")]  # no temporary left
    # put back: only counselling changed, so only it is read again; the store equals a fresh validation
    counselling[100] = counselling[100].rsplit(",one", 1)[0]
    (data / "counselling.csv").write_text("\n".join(counselling), encoding="utf-8-sig")
    read.clear()
    assert validate().exit_code == 0
    assert read == ["counselling"]
    _whole(data, tmp_path / "whole.duckdb")
    _assert_same_store(tmp_path / "whole.duckdb", store)
    assert rejected.read_bytes() == written
    # nothing changed: nothing read, the store not rewritten
    read.clear()
    mtime = store.stat().st_mtime_ns
    result = validate()
    assert result.exit_code == 0 and read == [] and store.stat().st_mtime_ns == mtime
    assert rejected.read_bytes() == written


def test_a_stage_left_by_a_killed_validation_is_removed(messy, tmp_path):
    from riskmodel.data.ingest import validate_into_store

    stale = tmp_path / ".s.duckdb.stage-abc123.tmp"
    stale.mkdir()
    (stale / "stage.duckdb").write_bytes(b"half")
    validate_into_store(messy, tmp_path / "s.duckdb", settings=Settings(), chunk_rows=10_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.duckdb"]
