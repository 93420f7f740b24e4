"""Settings: read from YAML once, validated, passed down explicitly.

Every stage receives the part of :class:`Settings` it needs as an argument; no module reads the
environment or a global config deep inside a function. Unknown keys are an error, so a typo in a
centre's configuration file fails at start-up with the key's name instead of being ignored.

Each stage owns one section below. The defaults are the documented defaults of the issue that
introduced them; a centre overrides any of them in its own YAML file (see docs/configuration.md)::

    warning:
      capacity: {I: 20, II: 60, III: 150}

Example
-------
>>> settings = load_settings(None)
>>> settings.labels.horizon_days
90
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskmodel.errors import ConfigError
from riskmodel.vocab import MODEL_KINDS

__all__ = ["Settings", "load_settings", "ConfigError"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSettings(_Section):
    """How a data directory is read (riskmodel.data)."""

    mapping: Path | None = None  # column-mapping YAML; None: the shipped Chinese-header example is tried
    encoding: str | None = None  # CSV encoding; None: detected (UTF-8, UTF-8 with BOM, GB18030)
    # the sheet to read: one name or 0-based number for every workbook (a workbook without a sheet of that
    # name is read from its first sheet, noted), or per table, e.g. {students: 学生名单} (others: first sheet)
    excel_sheet: str | int | dict[str, str | int] = 0
    gpa_scale: Literal[4, 5] = 4  # the academics table's GPA is out of 4 or out of 5
    enrolment_grace_days: int = 0  # records this many days outside enrolment are still accepted
    pseudonym_key_file: Path | None = None  # None: env RISKMODEL_PSEUDONYM_KEY, else ~/.config/riskmodel/pseudonym.key
    # validate --store reads each table file in chunks of this many rows (memory: one chunk, not the register)
    chunk_rows: int = Field(50_000, ge=1)
    store_memory: str = "512MB"  # DuckDB's memory limit while building the store (it spills beside the store)
    # score from a store reads its schools in batches of about this many register students (memory: one
    # batch; a larger school alone); score --cluster makes each batch one task
    batch_students: int = Field(20_000, ge=1)


class InstrumentSettings(_Section):
    """Documented choices where sources differ (riskmodel.instruments, INSTRUMENTS.md)."""

    # PHQ-9 positive screen per stage: >= 11 for adolescents (Richardson 2010), >= 10 adults (Kroenke 2001)
    phq9_positive_cutoff: dict[str, int] = Field(
        default_factory=lambda: {
            "primary": 11, "junior": 11, "senior": 11, "vocational": 11,  # Richardson 2010, 13-17 y
            "university": 10, "graduate": 10,  # Kroenke 2001
        }
    )
    scl90_total_rule: Literal[">", ">="] = ">"  # total > 160 (Chinese norm); some centres use >=
    scl90_item15_critical: int = Field(2, ge=2, le=5)  # item 15 >= 2 ("a little") is critical; 1 is "none"
    sds_convention: Literal["chinese_53", "zung_50"] = "chinese_53"  # SDS bands: Chinese norm 53/63/73 or Zung 50/60/70
    upi_class2_connective: Literal["or", "and"] = "or"  # UPI class 2: total 20-24 OR/AND a key item (published text ambiguous)
    # e.g. {SCL90: 9}; at most what the manual allows (specs.yaml prorate_max_allowed: SCL90 18, others 0)
    prorate_max_missing: dict[str, int] = Field(default_factory=dict)
    seconds_per_item_floor: float = Field(2.0, ge=0.0)  # faster than this per item: careless answering
    identical_run_length: int = Field(15, ge=2)  # this many identical answers in a row: careless answering


class FeatureSettings(_Section):
    """Point-in-time feature engineering (riskmodel.features; docs/features.md)."""

    windows_days: tuple[int, ...] = (30, 90, 365)  # count windows; they appear in names (obs_mood_30d)
    trend_window_days: int = 90  # trend = count in the last N days minus the N days before
    missed_screening_days: int = 400  # no screening for this long counts as a missed yearly wave
    screening_grace_days: int = 60  # a newly enrolled student never screened is "missed" only after this
    min_class_size: int = 5  # cohort-relative features need this many classmates with a value, else NaN
    after_holiday_days: int = 14  # "shortly after a holiday" = within this many days of its end
    major_event_lead_days: int = 14  # a major event counts from this many days before it starts
    sudden_absence_min: int = 3  # unexcused absences in 30 days before a rise can be "sudden"
    programme_years: dict[str, int] = Field(
        default_factory=lambda: {"primary": 6, "junior": 3, "senior": 3, "vocational": 3,
                                 "university": 4, "graduate": 3}
    )  # expected length per stage, for the graduating-term flag (the exit date is never read: future)


class LabelSettings(_Section):
    """Outcome labels (riskmodel.labels; docs/features.md)."""

    horizon_days: int = 90  # label = an outcome in (as_of, as_of + horizon_days]
    # outcome events that make a label positive (the contract's outcome kinds)
    outcome_events: tuple[str, ...] = (
        "suicide_attempt", "self_harm", "suicidal_ideation_confirmed", "crisis_intervention",
        "psychiatric_admission", "psychiatric_diagnosis", "medical_leave",
    )
    # a student who leaves before the window closes with no outcome seen: keep as negative (False)
    # or leave out of training (True, default); the positive side is always kept
    exclude_censored_negatives: bool = True


# Features whose direction is known from the clinic, not from the data: a higher answer to a critical
# item (suicidal ideation), more urgent or self-harm-signal observations, an earlier self-harm or
# attempt, a higher counsellor rating never lower the risk. LightGBM is constrained to respect it
# (``monotone_constraints``; riskmodel.models.gbm). Shell-style patterns over feature names.
MONOTONE_INCREASING: tuple[str, ...] = (
    "*_item*_latest", "traj_*_item*_max", "*_critical_latest", "screening_critical_*d",
    "obs_urgent_*d", "obs_self_harm_signal_*d", "obs_self_harm_signal_urgent_*d",
    "outcome_self_harm_or_attempt_*", "counsellor_rating_last", "counsellor_rating_high_365d",
    "traj_couns_rating_max_365d",
)


class ModelSettings(_Section):
    """Model training (riskmodel.models)."""

    kind: Literal[MODEL_KINDS] = "lightgbm"  # the model `riskmodel train` fits unless --model says otherwise
    seed: int = 20260301  # seed of every random choice in training; same data, settings and seed give the same model
    # probability calibration on a later fold; auto picks by the number of positives
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    isotonic_min_positives: int = 1000  # auto: isotonic from this many positives in the calibration fold, sigmoid below
    lightgbm: dict[str, float | int | str] = Field(default_factory=dict)  # overrides of riskmodel.models.gbm.DEFAULT_PARAMS
    n_estimators: int = 400  # most LightGBM rounds; early stopping on the later fold usually stops sooner
    max_fit_rows: int = 250_000  # above this, negatives of the fit fold are subsampled (seeded) and weighted back
    # memory the training matrix may take (GB, estimated before it is built); above it, a share of the students of
    # the calibration/held-out months and of the fit months' negatives (weighted back) is built (docs/models.md); 0: no limit
    max_memory_gb: float = Field(default=4.0, ge=0)
    early_stopping_rounds: int = 50  # stop when the later fold's loss has not improved for this many rounds
    # fixed, for determinism; 1 because OpenMP threads on a busy 2-core machine ran 18x slower (docs/models.md)
    num_threads: int = 1
    logistic_c: float = 0.1  # inverse L2 strength of the logistic model
    logistic_max_fit_rows: int = 80_000  # the logistic model's subsampling budget (lbfgs is slower than LightGBM)
    rules: Path | None = None  # baseline rules YAML; None: riskmodel/models/rules_baseline.yaml
    history_months: int = 48  # monthly as-of dates used for training, ending at the last whose label window closes by --until
    as_of_day: int = 1  # day of the month of the monthly as-of dates
    calibration_months: int = 6  # the later fold: early stopping and calibration
    holdout_months: int = 6  # the latest fold: held-out evaluation recorded in model.json
    refit: bool = True  # after evaluating, refit one fold later (fit up to the holdout, calibrate on it) for use
    # LightGBM: features (shell patterns) whose rise never lowers the score; [] for none (docs/models.md)
    monotone_increasing: list[str] = Field(default_factory=lambda: list(MONOTONE_INCREASING))


class WarningSettings(_Section):
    """Warning levels and the list (riskmodel.warning)."""

    capacity: dict[str, int] | None = None  # students a centre can see per level per month, e.g. {I: 20, II: 60, III: 150}
    # without `capacity`: students per level per month for every 1,000 students scored
    capacity_per_1000: dict[str, float] = Field(default_factory=lambda: {"I": 5.0, "II": 15.0, "III": 30.0})
    thresholds: dict[str, float] | None = None  # probability thresholds instead of capacity
    hard_rules: Path | None = None  # YAML of hard rules; None: the shipped defaults
    top_factors: int = 3  # reasons shown per listed student (factor families raising the score)
    # scoring refuses an as-of date this many days or more after the newest record in the data: a list
    # built on stale records misses everything since (120 covers a summer holiday without records)
    max_data_age_days: int = Field(120, ge=1)
    # the review loop (riskmodel.warning.cases, docs/warning_list.md): `reviews`: level I holds the students
    # awaiting interview after a hard rule and those reviewed to I, a reviewed level is a floor until the next
    # review, a trigger holds until a review dated on or after it; `legacy`: hard rules put students at level I
    # while they fire (within their max_age window) and reviews are not read
    case_mode: Literal["reviews", "legacy"] = "reviews"
    interview_due_days: int = Field(7, ge=0)  # a student awaiting interview longer than this is overdue
    review_interval_days: int = Field(30, ge=1)  # a review without next_review is due this many days after it
    # hard-rule triggers dated before this are not read (a centre that starts recording reviews on a date
    # names it, so that every critical answer of earlier years is not awaiting interview); None: all
    reviews_since: date | None = None
    # the run refuses (exit 2) when more than this share of the students scored by the previous run is
    # missing or rejected in this register (a cut-off or broken export); `riskmodel run
    # --accept-register-loss` (or 1.0 here) accepts a real loss, e.g. a year group that graduated
    max_register_loss: float = Field(0.05, ge=0.0, le=1.0)


class ReportSettings(_Section):
    """Reports and the scheduled run (riskmodel.reports)."""

    lang: Literal["zh", "en"] = "zh"  # language of lists, reasons and reports (--lang overrides)
    jobs: int = Field(2, ge=1)  # notebooks run at once (a process pool); the machine's cores is a good choice
    small_cell: int = Field(5, ge=1)  # aggregate counts below this show as "<n" in cohort tables
    min_free_disk_mb: int = Field(500, ge=0)  # pre-flight: refuse to start with less free disk than this
    notebook_timeout: int = Field(600, ge=10)  # seconds one notebook cell may take before it counts as failed
    reuse_kernels: bool = True  # each worker runs its notebooks in one kernel, namespace cleared between them
    kernel_max_notebooks: int = Field(50, ge=0)  # a reused kernel is replaced after this many notebooks (0: never)


class AuditSettings(_Section):
    """The model audit (riskmodel.audit, docs/audit.md)."""

    bootstrap: int = 500  # bootstrap replicates for every confidence interval (cluster-by-student)
    seed: int = 20260301  # seed of the bootstrap; same seed, same intervals
    confidence: float = 0.95  # two-sided level of the percentile intervals
    calibration_bins: int = 10  # equal-count (quantile) bins of the reliability curve and ECE
    psi_bins: int = 10  # quantile bins of the training distribution for the population stability index
    min_group_size: int = 50  # a group smaller than this is reported as insufficient, not as a number
    min_group_positives: int = 20  # nor one with fewer recorded outcomes (below 20, recall moves 5 points per case)
    gap_thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "auc": 0.05,  # group AUC this far from the rest of the population
            "average_precision": 0.05,
            "recall": 0.10,  # recall at capacity: share of the group's recorded outcomes the list reached
            "precision": 0.05,
            "brier": 0.02,
            "observed_expected": 0.25,  # observed / expected outcomes (1 = calibrated in the large)
        }
    )  # a gap is flagged when it passes its threshold AND its interval excludes zero
    psi_flag: float = 0.25  # PSI above this: the population has shifted (0.1-0.25 moderate)


class ClusterSettings(_Section):
    """The distributed run on a Dask cluster (`riskmodel run --cluster`, riskmodel.reports.cluster, docs/scale.md)."""

    retries: int = Field(2, ge=0)  # a school's task is run again this often when its worker is lost
    connect_timeout: int = Field(30, ge=1)  # seconds to reach an existing scheduler (--cluster ADDRESS)
    memory_limit: str = "auto"  # per worker of --cluster local:N ("4GB"; auto: the machine's memory / N)
    worker_lifetime: str = ""  # local:N workers restart after this long ("1 hour", staggered); "": never


class Settings(_Section):
    """All settings; each stage reads its own section."""

    data: DataSettings = DataSettings()
    instruments: InstrumentSettings = InstrumentSettings()
    features: FeatureSettings = FeatureSettings()
    labels: LabelSettings = LabelSettings()
    model: ModelSettings = ModelSettings()
    warning: WarningSettings = WarningSettings()
    reports: ReportSettings = ReportSettings()
    audit: AuditSettings = AuditSettings()
    cluster: ClusterSettings = ClusterSettings()

    def as_dict(self) -> dict:
        """Plain, JSON-ready form for run manifests and model metadata."""
        return self.model_dump(mode="json")


def load_settings(path: str | Path | None) -> Settings:
    """Read settings from a YAML file; ``None`` gives the defaults.

    Parameters
    ----------
    path
        A YAML file whose top-level keys are sections of :class:`Settings`.

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, or has an unknown key or a wrong value.
    """
    if path is None:
        return Settings()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found; pass an existing YAML file to --config.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected sections such as 'warning:' at the top level.")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}. See docs/configuration.md for every key.") from None
