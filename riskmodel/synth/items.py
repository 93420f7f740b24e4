"""Item-level questionnaire answers consistent with a latent state (a graded-response model).

For each instrument of ``riskmodel.instruments.specs``, item ``j`` has a discrimination ``a_j`` and a
location ``b_j``; the keyed answer passes threshold ``k`` (``k = 1 .. max - min``) with probability
``sigmoid(a_j * (theta - b_j - step * (k - 1)))``, one uniform draw per answer, so higher distress gives
higher answers on every item and the total follows. Reverse-keyed items are answered in reverse (raw =
min + max - keyed). Critical items (PHQ-9 item 9, UPI item 25, SCL-90 item 15, SDS item 19) sit far to
the right, so they are rare and concentrated at high distress. UPI's positively worded lie items (5, 20,
35, 50) are endorsed by the well; its supplementary items (61-64) are rare. MHT's lie items follow a
per-administration social-desirability trait, so a few forms exceed the lie cut-off. The item parameters
come from a fixed generator per instrument: the same instrument behaves the same for every seed.

Careless answering (params.CARELESS): half of those administrations are random answers given too
fast, half one identical answer throughout.

Example
-------
>>> import numpy as np
>>> from riskmodel.instruments import get
>>> rng = np.random.default_rng(0)
>>> low, high = answer(get("PHQ9"), np.full(2000, -1.0), rng), answer(get("PHQ9"), np.full(2000, 2.0), rng)
>>> bool(low.sum(axis=1).mean() < high.sum(axis=1).mean())
True
"""

from __future__ import annotations

import zlib

import numpy as np

from riskmodel.instruments.specs import InstrumentSpec
from riskmodel.synth import params

__all__ = ["answer", "durations", "make_careless", "ITEM_MODEL"]

# location of an average item, step between thresholds, shift of the critical items (calibration:
# DOMAIN.md 5 -- PHQ-9 >= 10 ~10-28%, GAD-7 >= 10 ~5-15%, UPI class 1 ~6-25%, UPI item 25 ~1-5%)
ITEM_MODEL: dict[str, dict] = {
    "PHQ9": {"loc": 0.55, "step": 0.95, "critical_shift": 1.90, "disc": (1.4, 2.1)},
    "GAD7": {"loc": 0.85, "step": 0.95, "critical_shift": 0.0, "disc": (1.4, 2.1)},
    "SCL90": {"loc": 1.40, "step": 0.85, "critical_shift": 1.0, "disc": (1.2, 1.9)},
    "SDS": {"loc": 0.30, "step": 1.00, "critical_shift": 1.9, "disc": (1.2, 1.8)},  # item 19 as rare as PHQ-9 item 9
    "SAS": {"loc": 0.55, "step": 1.00, "critical_shift": 0.0, "disc": (1.2, 1.8)},
    "UPI": {"loc": 1.90, "step": 0.0, "critical_shift": 1.60, "disc": (1.3, 2.0)},
    "MHT": {"loc": 1.05, "step": 0.0, "critical_shift": 0.0, "disc": (1.0, 1.6)},
}
_ITEM_SPREAD = 0.45  # SD of item locations around the instrument's loc
_SUPPLEMENTARY_SHIFT = 1.6


def _item_parameters(spec: InstrumentSpec) -> tuple[np.ndarray, np.ndarray]:
    """Discrimination and location of each item, fixed per instrument (not per seed)."""
    model = ITEM_MODEL[spec.code]
    fixed = np.random.default_rng(zlib.crc32(spec.code.encode()))
    disc = fixed.uniform(*model["disc"], spec.n_items)
    loc = model["loc"] + fixed.normal(0.0, _ITEM_SPREAD, spec.n_items)
    for item in spec.critical:
        loc[item - 1] = model["loc"] + model["critical_shift"]
        disc[item - 1] = model["disc"][1]
    for item in spec.supplementary_items:
        loc[item - 1] = model["loc"] + _SUPPLEMENTARY_SHIFT
    return disc, loc


def answer(spec: InstrumentSpec, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Raw answers (``int8``, one row per administration, ``spec.n_items`` columns) at latent ``theta``.

    Parameters
    ----------
    spec
        The instrument specification (riskmodel.instruments.specs).
    theta
        Latent distress of each administration (distress plus the administration's state noise).
    rng
        The cohort's generator.
    """
    disc, loc = _item_parameters(spec)
    levels = spec.response_max - spec.response_min
    step = ITEM_MODEL[spec.code]["step"]
    thresholds = loc[None, :, None] + step * np.arange(levels)[None, None, :]
    p_pass = 1.0 / (1.0 + np.exp(-disc[None, :, None] * (theta[:, None, None] - thresholds)))
    u = rng.random((theta.size, spec.n_items), dtype=np.float32)
    keyed = (u[:, :, None] < p_pass).sum(axis=2).astype(np.int8)
    raw = keyed + np.int8(spec.response_min)
    if spec.reverse_items:
        cols = np.asarray(spec.reverse_items) - 1
        raw[:, cols] = spec.response_min + spec.response_max - raw[:, cols]
    if spec.lie_items:
        cols = np.asarray(spec.lie_items) - 1
        if spec.code == "UPI":  # positively worded ("good health", "full of vigour"): the well say yes
            p_yes = 1.0 / (1.0 + np.exp(-(1.6 - 1.1 * theta)))
            raw[:, cols] = (rng.random((theta.size, cols.size)) < p_yes[:, None]).astype(np.int8)
        else:  # MHT lie scale: social desirability, a trait of the administration
            desirability = rng.normal(0.0, 1.0, theta.size)
            p_yes = 1.0 / (1.0 + np.exp(-(-1.3 + 1.1 * desirability)))
            raw[:, cols] = (rng.random((theta.size, cols.size)) < p_yes[:, None]).astype(np.int8)
    return raw


def make_careless(spec: InstrumentSpec, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Overwrite a few administrations with careless answers; return which (``0`` none, 1 fast, 2 identical)."""
    n = raw.shape[0]
    kind = np.zeros(n, np.int8)
    careless = rng.random(n) < params.CARELESS
    identical = careless & (rng.random(n) < 0.5)
    fast = careless & ~identical
    kind[fast], kind[identical] = 1, 2
    if fast.any():
        raw[fast] = rng.integers(spec.response_min, spec.response_max + 1, (int(fast.sum()), spec.n_items))
    if identical.any():
        value = rng.integers(spec.response_min, spec.response_max + 1, int(identical.sum()))
        raw[identical] = value[:, None]
    return kind


def durations(spec: InstrumentSpec, kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds taken: about 5 s an item when answered with care, under 2 s an item when not."""
    n = kind.size
    careful = 20.0 + spec.n_items * rng.lognormal(np.log(5.0), 0.35, n)
    hurried = spec.n_items * rng.uniform(0.4, 1.6, n)
    return np.round(np.where(kind > 0, hurried, careful), 1)
