"""The handover packet: one student's file, for another centre (跨校、跨学段交接).

:func:`export_packet` (``riskmodel handover export``) reads the sending centre's data folder (and,
optionally, its reports folder for the levels and reasons of every run), gathers the student's
records, writes a summary for the receiving school and a manifest of what is included and withheld,
and seals it (:mod:`riskmodel.handover.seal`). :func:`import_packet` (``riskmodel handover import``)
opens a packet, checks it is for this centre and from the expected sender, and adds the records to
the receiving centre's data folder under the receiving school's student ID, as files the loader
reads and validates like any other (``<table>.handover-<packet id>.csv``, docs/handover.md).

The payload is UTF-8 JSON::

    {"format": "riskmodel-handover-payload", "version": 1, "packet_id", "created", "records_until",
     "sender": {"fingerprint", "name"}, "student": {register fields, no ID, no name},
     "tables": {"screenings": [...], "observations": [...], "life_events": [...], "counselling": [...],
                "reviews": [...]},
     "runs": [{"as_of", "level", "score", "rank", "rules", "factors"}], "summary": {...}, "manifest": {...}}

Screening rows carry the item answers and their scores, and PHQ-9/GAD-7 rows their LOINC tags.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.handover.keys import HandoverError, load_keys, load_public
from riskmodel.handover.loinc import tag
from riskmodel.handover.seal import open_packet, read_header, seal
from riskmodel.handover.summary import summarise
from riskmodel.outputs import private_dir, write_bytes, write_text
from riskmodel.vocab import FAMILY_FLAGS

__all__ = ["TABLES", "Exported", "Imported", "export_packet", "import_packet", "student_records"]

log = logging.getLogger(__name__)

PAYLOAD_FORMAT = "riskmodel-handover-payload"
# the tables a packet carries, and the contract columns of each (free text last: withheld by default)
TABLES: dict[str, tuple[str, ...]] = {
    "screenings": ("date", "instrument", "duration_seconds", "counselling_request"),
    "observations": ("date", "source", "category", "severity"),
    "life_events": ("date", "event"),
    "counselling": ("date", "kind", "counsellor_rating"),
    "reviews": ("date", "level", "status", "next_review", "reviewer_role"),
}
FREE_TEXT: dict[str, tuple[str, ...]] = {"observations": ("note",), "counselling": ("note",),
                                         "reviews": ("reason", "note")}
NOT_CARRIED = ("academics", "attendance", "outcomes", "calendar")
_REGISTER = ("school", "college", "grade", "class_id", "stage", "gender", "birth_year", "enrollment_date", "exit_date",
             *FAMILY_FLAGS)
_SCORES = ("total", "standard_score", "band", "positive", "critical", "critical_items", "classification", "lie_score",
           "invalid", "too_fast", "identical_run", "careless")


def _plain(value):
    """A JSON value for one cell: ISO dates, None for missing, Python numbers."""
    if value is None or (not isinstance(value, (str, bytes, list, dict)) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return pd.Timestamp(value).date().isoformat()
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def student_records(dataset, student_id: str, *, settings: Settings, include_notes: bool) -> dict[str, pd.DataFrame]:
    """One student's rows of every carried table (scored screenings with their answers), oldest first."""
    from riskmodel.instruments import score

    out: dict[str, pd.DataFrame] = {}
    for name, columns in TABLES.items():
        table = dataset.tables.get(name)
        if table is None or table.empty:
            out[name] = pd.DataFrame(columns=["date"])
            continue
        rows = table[table["student_id"].astype(str) == student_id]
        keep = [c for c in (*columns, *(FREE_TEXT.get(name, ()) if include_notes else ())) if c in rows.columns]
        if name == "screenings":
            items = [c for c in rows.columns if c.startswith("item_") and rows[c].notna().any()]
            items.sort(key=lambda c: int(c.removeprefix("item_")))
            stage = dataset.tables["students"].set_index("student_id")["stage"]
            scored = score(rows.reset_index(drop=True), settings=settings.instruments,
                           stage=rows["student_id"].map(stage).reset_index(drop=True))
            frame = pd.concat([rows[keep + items].reset_index(drop=True),
                               scored[[c for c in _SCORES if c in scored.columns]]], axis=1)
        else:
            frame = rows[keep].reset_index(drop=True)
        out[name] = frame.sort_values("date", kind="stable").reset_index(drop=True)
    return out


def _runs(reports: Path | None, pseudonym: str) -> pd.DataFrame:
    """The student's level, score and reasons at every run in a reports folder (latest run of each date)."""
    columns = ["as_of", "level", "score", "rank", "rules", "factors"]
    if reports is None:
        return pd.DataFrame(columns=columns)
    latest: dict[str, tuple[str, Path]] = {}
    for manifest_path in Path(reports).glob("run-*/manifest.json"):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        key, made = str(manifest.get("as_of", "")), str(manifest.get("finished", ""))
        if key and (key not in latest or made > latest[key][0]):
            latest[key] = (made, manifest_path.parent / "report_data" / "list.parquet")
    frames = []
    for key in sorted(latest):
        path = latest[key][1]
        if path.exists():
            frame = pd.read_parquet(path)
            frames.append(frame.loc[frame["pseudonym"] == pseudonym, [c for c in columns if c in frame.columns]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the packet file, its id and the manifest."""

    path: Path
    packet_id: str
    manifest: dict


def export_packet(data: str | Path, student_id: str, *, key_dir: str | Path, recipient: str | Path, out: str | Path,
                  settings: Settings, include_notes: bool = False, runs: str | Path | None = None) -> Exported:
    """Write the packet of ``student_id`` for ``recipient`` (a ``centre.pub``) to ``out``.

    Raises
    ------
    HandoverError
        Unknown student, missing keys, or ``out`` already exists (a packet is never overwritten).
    """
    from riskmodel.features.export import open_data

    out = Path(out)
    if out.exists():
        raise HandoverError(f"{out}: already exists; a packet is never overwritten. Choose another --out.")
    own = load_keys(key_dir)
    to = load_public(recipient)
    if to.fingerprint == own.fingerprint:
        raise HandoverError(f"{recipient}: this centre's own key; pass the receiving centre's centre.pub to --to.")
    dataset = open_data(data, settings=settings)
    students = dataset.tables["students"]
    match = students[students["student_id"].astype(str) == str(student_id)]
    if match.empty:
        raise HandoverError(f"{data}: no student with the ID given to --student in the students table; check the ID "
                            "(the sending school's own 学号).")
    register_row = match.iloc[0]
    register = {c: _plain(register_row.get(c)) for c in _REGISTER if c in match.columns}
    if register.get("birth_year") is None and pd.notna(register_row.get("birth_date")):
        register["birth_year"] = int(pd.Timestamp(register_row["birth_date"]).year)
    tables = student_records(dataset, str(student_id), settings=settings, include_notes=include_notes)
    history = _runs(Path(runs) if runs else None, str(register_row["pseudonym"]))
    packet_id = secrets.token_hex(16)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    dated = [pd.to_datetime(t["date"]).max() for t in tables.values() if not t.empty]
    until = max(dated).date().isoformat() if dated else None
    summary = summarise(register=register, tables=tables, runs=history, as_of=until or date.today())
    withheld = [{"what": "student_id", "why": "the receiving school files the student under its own ID (--as)"},
                {"what": "name", "why": "riskmodel never stores names"}]
    for name, columns in FREE_TEXT.items():
        present = [c for c in columns if c in dataset.tables.get(name, pd.DataFrame()).columns]
        if present and not include_notes:
            withheld += [{"what": f"{name}.{c}", "why": "free text; pass --include-notes to include it"} for c in present]
    for name in (*NOT_CARRIED, *(n for n in TABLES if n not in dataset.tables)):
        withheld.append({"what": name, "why": "not part of a handover" if name in NOT_CARRIED
                         else "the sending centre's data has no such table"})
    if runs is None:
        withheld.append({"what": "runs", "why": "no reports folder given (--runs): levels and reasons over time absent"})
    manifest = {"included": {name: len(frame) for name, frame in tables.items() if name in dataset.tables},
                "runs": len(history), "notes_included": include_notes, "withheld": withheld,
                "loinc": {"PHQ9": "44249-1", "GAD7": "69737-5", "items": "PHQ-9 and GAD-7 answers tagged per item"}}
    screenings = _records(tables["screenings"])
    for row in screenings:
        loinc = tag(str(row.get("instrument")))
        if loinc:
            row["loinc"] = loinc
    payload = {
        "format": PAYLOAD_FORMAT, "version": 1, "packet_id": packet_id, "created": created, "records_until": until,
        "sender": {"fingerprint": own.fingerprint, "name": own.name}, "student": register,
        "tables": {"screenings": screenings, **{name: _records(frame) for name, frame in tables.items()
                                                if name != "screenings"}},
        "runs": _records(history), "summary": summary, "manifest": manifest,
    }
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    write_bytes(out, seal(body, sender=own, recipient=to, packet_id=packet_id, created=created))
    log.info("handover packet %s written: %s", packet_id, {k: v for k, v in manifest["included"].items()})
    return Exported(path=out, packet_id=packet_id, manifest=manifest)


# --------------------------------------------------------------------------------------------- import
@dataclass(frozen=True)
class Imported:
    """What an import wrote: the part files and the packet record."""

    packet_id: str
    sender: str
    written: dict[str, int]
    files: list[Path]
    record: Path


def _students(data_dir: Path, settings: Settings) -> pd.DataFrame:
    from riskmodel.data.load import read_table
    from riskmodel.data.mapping import load_mapping
    from riskmodel.data.read import discover

    mapping = load_mapping(settings.data.mapping, lang=settings.reports.lang)
    files, _ = discover(data_dir, mapping, settings.reports.lang)
    if "students" not in files:
        raise HandoverError(f"{data_dir}: no students table; pass the receiving centre's data folder to --data.")
    accepted, _ = read_table(files["students"], "students", settings=settings, mapping=mapping)
    return accepted


def _part(name: str, rows: list[dict], student_id: str) -> pd.DataFrame:
    """A payload table as the contract's columns, filed under the receiving school's ``student_id``."""
    from riskmodel.data.dataset import contract
    from riskmodel.outputs import neutralise_frame

    spec = contract()["tables"][name]
    frame = pd.DataFrame(rows)
    keep = [c for c in frame.columns if c in spec["columns"] or (name == "screenings" and c.startswith("item_"))]
    frame = frame[[c for c in keep if c != "student_id"]]
    frame.insert(0, "student_id", student_id)
    for column in frame.columns:
        if column.startswith("item_") or column in ("severity", "counsellor_rating"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    return neutralise_frame(frame)


def import_packet(packet: str | Path, *, data: str | Path, key_dir: str | Path, sender: str | Path, student_id: str,
                  settings: Settings) -> Imported:
    """Verify ``packet`` and add its records to ``data`` for ``student_id`` (see the module docstring).

    Every check runs before anything is written; the part files are written aside, read back by the
    loader (any rejected row refuses the import), then renamed into place; a failure removes them.

    Raises
    ------
    HandoverError
        Tampered, truncated, wrong recipient, unknown sender, unknown student, or the packet was
        imported before (replay): nothing is written.
    """
    from riskmodel.data.dataset import contract
    from riskmodel.data.integrity import StudentReference, integrity_problems
    from riskmodel.data.load import read_table
    from riskmodel.data.read import HANDOVER_PART

    packet, data_dir = Path(packet), Path(data)
    try:
        raw = packet.read_bytes()
    except OSError as exc:
        raise HandoverError(f"{packet}: cannot be read ({exc.strerror}); nothing imported.") from None
    own, from_key = load_keys(key_dir), load_public(sender)
    opened = open_packet(raw, own=own, sender=from_key, source=packet.name)
    packet_id = str(opened.header["packet_id"])
    try:
        payload = json.loads(opened.payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HandoverError(f"{packet.name}: the packet's content is not readable; nothing imported.") from None
    if payload.get("format") != PAYLOAD_FORMAT or payload.get("packet_id") != packet_id:
        raise HandoverError(f"{packet.name}: the content does not belong to this packet's header; nothing imported.")
    if not data_dir.is_dir():
        raise HandoverError(f"{data_dir}: no such data folder; pass the receiving centre's data folder to --data.")
    previous = [p.name for p in data_dir.iterdir()
                if (m := HANDOVER_PART.match(p.stem)) and m["packet"] == packet_id]
    if previous or (data_dir / "_handover" / f"{packet_id}.json").exists():
        raise HandoverError(f"{packet.name}: packet {packet_id} was imported into {data_dir} before "
                            f"({', '.join(sorted(previous)) or '_handover record'}); nothing imported again.")
    students = _students(data_dir, settings)
    if not (students["student_id"].astype(str) == str(student_id)).any():
        raise HandoverError(f"{data_dir}: the ID given to --as is not in this centre's students table; add the "
                            "student to the register first (the packet never creates a student).")
    mine = students[students["student_id"].astype(str) == str(student_id)].head(1)
    reference = StudentReference(
        accepted=pd.DataFrame({"enrollment_date": mine["enrollment_date"].to_numpy(),
                               "exit_date": mine["exit_date"].to_numpy(), "row": [0]},
                              index=pd.Index(mine["student_id"].astype(str), name="student_id")),
        rejected_rows=pd.Series(dtype="int64"))
    known = contract()["tables"]
    parts, not_imported = {}, []
    for name, rows in sorted(payload.get("tables", {}).items()):
        if not rows:
            continue
        if name not in known or name not in TABLES:
            not_imported.append(name)
            continue
        parts[name] = _part(name, rows, str(student_id))
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for name, frame in parts.items():
            target = data_dir / f"{name}.handover-{packet_id}.csv"
            aside = data_dir / f".tmp-{target.name}"  # hidden from the loader until renamed
            with open(os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8",
                      newline="") as handle:
                frame.to_csv(handle, index=False, date_format="%Y-%m-%d")
            staged.append((aside, target))
            accepted, rejected = read_table(aside, name, settings=settings)
            if not len(rejected):  # what the next load checks across tables: dates after the exit here, future
                problems = integrity_problems(name, accepted, reference, grace_days=settings.data.enrolment_grace_days,
                                              lang=settings.reports.lang, before_enrolment=True)
                if len(problems):
                    first = problems.iloc[0]
                    raise HandoverError(f"{packet.name}: {problems['pos'].nunique()} {name} row(s) of the packet do "
                                        f"not fit this student's record here ({first['code']} in column "
                                        f"{first['column']}); nothing imported. Check the ID given to --as.")
            if len(rejected):
                first = rejected.iloc[0]
                raise HandoverError(f"{packet.name}: {len(rejected)} {name} row(s) of the packet fail this centre's "
                                    f"checks (first: column {first['column']}: {first['reason']}); nothing imported.")
        record = {"packet_id": packet_id, "imported": datetime.now(UTC).replace(microsecond=0).isoformat(),
                  "sender": payload.get("sender"), "created": payload.get("created"),
                  "records_until": payload.get("records_until"), "student_id": str(student_id),
                  "previous_school": payload.get("student"), "runs": payload.get("runs", []),
                  "summary": payload.get("summary"), "manifest": payload.get("manifest"),
                  "files": [t.name for _, t in staged], "not_imported": not_imported}
        for aside, target in staged:
            os.replace(aside, target)
            placed.append(target)
        record_path = write_text(private_dir(data_dir / "_handover") / f"{packet_id}.json",
                                 json.dumps(record, ensure_ascii=False, indent=1))
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    finally:
        for aside, _ in staged:
            aside.unlink(missing_ok=True)
    log.info("handover packet %s imported: %s", packet_id, {n: len(f) for n, f in parts.items()})
    return Imported(packet_id=packet_id, sender=from_key.fingerprint, written={n: len(f) for n, f in parts.items()},
                    files=placed, record=record_path)


def peek(packet: str | Path) -> dict:
    """A packet's header (sender, recipient, id, date) without opening it: what `handover import` checks first."""
    packet = Path(packet)
    header, _, _ = read_header(packet.read_bytes(), source=packet.name)
    return header
