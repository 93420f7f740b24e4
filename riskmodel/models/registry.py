"""The model registry: save a fitted model with its metadata, load it back, refuse a mismatch.

A model folder holds only data, never code:

* ``model.json``: metadata (version, kind, training window, horizon, data checksum, feature list,
  parameters, seed, package versions, calibration, metrics on the held-out later period);
* ``features.json``: the feature list and the categories of text features;
* ``estimator.json``: the estimator's numbers (logistic coefficients, scaling; rules);
* ``booster.txt``: the LightGBM model text (LightGBM models only);
* ``calibrator.json``: the calibration map and what its uncertainty interval needs (isotonic: the
  Wilson bounds of each step and the step's counts; sigmoid: the covariance of its two
  parameters). A folder saved before intervals were stored has none: it loads and scores, and
  ``score_low``/``score_high`` are left empty (logged).

The version is a SHA-256 over the content files (not the metadata), so the same fit gives the same
version and any change of a byte in them is detected on loading. No pickle is written or read: a
model folder from elsewhere cannot run code when loaded (the trust boundary). It can still score
wrongly if altered *and* re-hashed, so keep model folders where only the centre can write.

Example
-------
>>> # model = train(dataset, until, settings=settings); save(model, "models/2026-03")
>>> # model = load("models/2026-03", features=feature_frame)   # ModelMismatchError if it does not fit
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd
from lightgbm.basic import LightGBMError

from riskmodel.errors import ModelMismatchError, PreflightError
from riskmodel.models.calibration import ProbabilityCalibrator
from riskmodel.models.gbm import LightGBMRisk
from riskmodel.models.logistic import LogisticRisk
from riskmodel.models.matrix import FeatureSpec
from riskmodel.models.pipeline import RiskModel
from riskmodel.models.rules import RulesBaseline
from riskmodel.outputs import atomic_dir, write_text

__all__ = ["save", "load", "load_cached", "load_model", "content_files"]

log = logging.getLogger(__name__)
FORMAT = 1
_ESTIMATORS = {"lightgbm": LightGBMRisk, "logistic": LogisticRisk, "rules": RulesBaseline}
_CONTENT = ("features.json", "estimator.json", "calibrator.json", "booster.txt")  # what the version hashes


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1, allow_nan=False) + "\n"


def content_files(model: RiskModel) -> dict[str, str]:
    """The files that define the model's behaviour, name -> text (what the version hashes)."""
    files = {
        "features.json": _dumps(model.spec.to_dict()),
        "estimator.json": _dumps({"kind": model.kind, **model.estimator.to_dict()}),
        "calibrator.json": _dumps(model.calibrator.to_dict()),
    }
    if model.kind == "lightgbm":
        files["booster.txt"] = model.estimator.model_text()
    return files


def _version(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def save(model: RiskModel, model_dir: str | Path, meta: dict | None = None) -> Path:
    """Write ``model`` (and ``meta`` merged into its metadata) to the new folder ``model_dir``.

    The folder is built aside and renamed into place (never half-written, never overwriting).
    Returns the folder; ``model.meta['version']`` is set to the content hash.

    Raises
    ------
    PreflightError
        ``model_dir`` already exists.
    """
    model_dir = Path(model_dir)
    if model_dir.exists():
        raise PreflightError(f"{model_dir}: already exists; a saved model is never overwritten. "
                             "Choose a new folder for --out (e.g. one named after the --until date).")
    files = content_files(model)
    model.meta = {**model.meta, **(meta or {}), "version": _version(files), "format": FORMAT, "kind": model.kind,
                  "features": list(model.spec.names)}
    with atomic_dir(model_dir) as work:
        for name, text in files.items():
            write_text(work / name, text)
        write_text(work / "model.json", _dumps(model.meta))
    log.info("saved %s model version %s", model.kind, model.meta["version"])
    return model_dir


_loaded: dict[tuple[str, float], RiskModel] = {}


def load_cached(model_dir: str | Path) -> RiskModel:
    """:func:`load`, once per process while ``model.json`` is unchanged (its time): a Dask worker scores
    many schools with one model (riskmodel.reports.distributed, riskmodel.warning.stream)."""
    path = Path(model_dir)
    key = (str(path.absolute()), (path / "model.json").stat().st_mtime)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = load(path)
    return _loaded[key]


def load(model_dir: str | Path, features: pd.DataFrame | list[str] | None = None) -> RiskModel:
    """Load the model in ``model_dir``; with ``features`` (a frame or names) refuse a mismatch.

    Raises
    ------
    ModelMismatchError
        The folder is not a riskmodel model, its files do not match its version (altered or
        damaged), or ``features`` differ from the model's.
    """
    model_dir = Path(model_dir)
    meta = _read_json(model_dir, "model.json")
    files = {name: _read_text(model_dir, name) for name in _CONTENT if (model_dir / name).exists()}
    if meta.get("format") != FORMAT or meta.get("kind") not in _ESTIMATORS:
        raise ModelMismatchError(f"{model_dir}/model.json: format {meta.get('format')!r}, kind "
                                 f"{meta.get('kind')!r} are not ones this riskmodel reads; retrain the model.")
    if _version(files) != meta.get("version"):
        raise ModelMismatchError(f"{model_dir}: the model files do not match version {meta.get('version')} in "
                                 "model.json (altered or damaged); restore the folder from a backup or retrain.")
    kind = meta["kind"]
    try:
        spec = FeatureSpec.from_dict(json.loads(files["features.json"]))
        state = json.loads(files["estimator.json"])
        if kind == "lightgbm":
            estimator = LightGBMRisk.from_dict(state, files["booster.txt"])
        else:
            estimator = _ESTIMATORS[kind].from_dict(state)
    except (KeyError, TypeError, ValueError, LightGBMError) as exc:  # hashed yet unreadable: written by a bug
        raise ModelMismatchError(f"{model_dir}: the model files cannot be read back ({type(exc).__name__}: {exc}); "
                                 "restore the folder from a backup or retrain.") from None
    try:
        calibrator = ProbabilityCalibrator.from_dict(json.loads(files["calibrator.json"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelMismatchError(f"{model_dir}/calibrator.json: not a calibration this riskmodel reads ({exc}); "
                                 "retrain the model.") from None
    model = RiskModel(kind=kind, spec=spec, estimator=estimator, calibrator=calibrator, meta=meta)
    if features is not None:
        if isinstance(features, pd.DataFrame):
            model.check(features)
        else:
            model.check(pd.DataFrame(columns=["student_id", "as_of", *features]))
    return model


load_model = load


def _read_text(model_dir: Path, name: str) -> str:
    """The text of ``model_dir/name``, or a ModelMismatchError (exit 2) naming the file and what to do."""
    path = model_dir / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelMismatchError(f"{path}: cannot read it ({exc.strerror}), so {model_dir} is not a riskmodel model "
                                 "folder; pass the --out folder of `riskmodel train`, readable by this account.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelMismatchError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02X} at offset {exc.start}): the "
                                 "file is damaged; restore the model folder from a backup or retrain.") from None


def _read_json(model_dir: Path, name: str) -> dict:
    text = _read_text(model_dir, name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelMismatchError(f"{model_dir / name}: not valid JSON ({exc.msg}, line {exc.lineno}): the file is "
                                 "damaged; restore the model folder from a backup or retrain.") from None
    if not isinstance(data, dict):
        raise ModelMismatchError(f"{model_dir / name}: not a riskmodel model description; pass the --out folder of "
                                 "`riskmodel train`.")
    return data
