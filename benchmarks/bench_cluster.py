"""The distributed run's per-school stage on ``--cluster local:1`` and ``local:2`` (issue 17, docs/benchmarks.md).

Makes a synthetic district (``--schools`` schools of about ``--students`` students, their colleges folded
into ``--colleges`` per school so that the reports per school are like a K-12 school's grades),
validates it into a store, fits a small model (logistic, on random labels: the cost of scoring, not its
quality, is measured), then makes the same run on a local cluster of each size in ``--workers`` and
prints, per size: the wall time of the school tasks (scoring, report data, lists, cohort reports) and of
the whole run, the speed-up against the first size, the machine's load averages before and after, and
the mean seconds per school of each stage. The lists of every size are checked byte-identical.

Usage::

    nice -n 10 python benchmarks/bench_cluster.py --schools 12 --students 150 --colleges 2 --workers 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AS_OF = date(2023, 12, 1)


def _district(folder: Path, *, schools: int, students: int, colleges: int) -> Path:
    from riskmodel.config import Settings
    from riskmodel.data.dataset import Dataset
    from riskmodel.data.store import write_store
    from riskmodel.features.export import open_data
    from riskmodel.synth import generate_schools, write_schools

    write_schools(generate_schools(schools=schools, students=students, years=2, seed=3), folder / "data")
    dataset = open_data(folder / "data", settings=Settings())
    register = dataset.tables["students"]
    names = sorted(register["college"].astype(str).unique())
    folded = register["college"].astype(str).map({n: f"学院{i % colleges + 1}" for i, n in enumerate(names)})
    tables = {**dataset.tables, "students": register.assign(college=folded)}
    return write_store(Dataset(tables=tables, checksum=dataset.checksum, files=dataset.files), folder / "district.duckdb")


def _model(store: Path, folder: Path) -> Path:
    from riskmodel.config import Settings
    from riskmodel.features import build_features
    from riskmodel.features.export import open_data
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel

    features = build_features(open_data(store, settings=Settings()), [AS_OF], settings=Settings())
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  folder / "model")
    return folder / "model"


def _lists_digest(run_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([*(run_dir / "lists").rglob("*"), run_dir / "warning_list.parquet", run_dir / "scores.parquet"]):
        if path.is_file():
            digest.update(path.relative_to(run_dir).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=12)
    parser.add_argument("--students", type=int, default=150)
    parser.add_argument("--colleges", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from riskmodel.config import Settings
    from riskmodel.reports.distributed import run_distributed

    os.environ.setdefault("RISKMODEL_PSEUDONYM_KEY", "5a" * 32)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        store = _district(folder, schools=args.schools, students=args.students, colleges=args.colleges)
        model = _model(store, folder)
        print(f"district: {args.schools} schools x ~{args.students} students, {args.colleges} colleges a school; "
              f"made in {time.perf_counter() - started:.0f} s")
        rows, first = [], None
        for workers in args.workers:
            load_before = os.getloadavg()
            t0 = time.perf_counter()
            result = run_distributed(store, model, AS_OF, folder / f"out-{workers}", settings=Settings(),
                                     cluster=f"local:{workers}", run_id="run-2023-12-01-bench")
            wall = time.perf_counter() - t0
            load_after = os.getloadavg()
            manifest = result.manifest
            schools_wall = manifest["timings_seconds"]["schools"]
            per_school = {}
            for seconds in manifest["school_seconds"].values():
                for stage, value in seconds.items():
                    per_school[stage] = per_school.get(stage, 0.0) + value / len(manifest["school_seconds"])
            first = first or schools_wall
            reports = sum(1 for o in manifest["notebooks"].values() if o["status"] == "ok")
            rows.append((workers, schools_wall, wall, first / schools_wall, load_before, load_after, per_school,
                         reports, manifest["students_scored"], _lists_digest(result.run_dir), result.exit_code))
        print("| workers | school tasks (s) | whole run (s) | speed-up | load before | load after | reports | "
              "students | per school: load, score, report data, lists, reports (s) | lists digest |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for (workers, tasks, wall, speedup, before, after, per_school, reports, students, digest, code) in rows:
            stages = ", ".join(f"{per_school.get(k, 0.0):.2f}" for k in ("load", "score", "report_data", "lists",
                                                                         "reports"))
            print(f"| local:{workers} | {tasks:.1f} | {wall:.1f} | {speedup:.2f}x | "
                  f"{before[0]:.1f} {before[1]:.1f} {before[2]:.1f} | {after[0]:.1f} {after[1]:.1f} {after[2]:.1f} | "
                  f"{reports} | {students} | {stages} | {digest}{'' if code == 0 else f' (exit {code})'} |")
        if len({row[9] for row in rows}) != 1:
            raise SystemExit("the lists differ between cluster sizes")


if __name__ == "__main__":
    main()
