"""Words a counsellor reads (issue 14): every page of a real Chinese and English run, end to end.

A small synthetic university, a model fitted on its own features (the machinery, not skill), and one
monthly run in each language with real papermill and nbconvert. Each HTML page is parsed: it loads
nothing from elsewhere, says its language, has a real title and the banner, and holds no text of the
other language outside data values (school, college and class names, pseudonyms), no snake_case key
and no warning; no executed notebook has a stderr stream or a warning in its outputs.
"""

from __future__ import annotations

import json
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.i18n import text

AS_OF = date(2023, 12, 1)
HAN = re.compile(r"[\u3400-\u9fff]")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
# words a Chinese page may show in Latin letters: instrument and metric names, file types
WARNING = re.compile(r"\b[A-Z]\w*Warning\b|warnings\.warn|Traceback")  # FutureWarning, RuntimeWarning, ...
LATIN_OK = {"PHQ", "GAD", "SCL", "SDS", "SAS", "UPI", "MHT", "CSV", "Excel", "Parquet", "AUC", "ROC",
            "LightGBM", "TreeSHAP", "shap", "SHAP", "PSI", "ECE", "Benjamini", "Hochberg", "run", "json", "z"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from riskmodel.features import build_features
    from riskmodel.features.export import open_data
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.reports.runner import run
    from riskmodel.synth import generate, write

    folder = tmp_path_factory.mktemp("words")
    write(generate(students=300, years=2, seed=5), folder / "data")
    settings = Settings()
    features = build_features(open_data(folder / "data", settings=settings), [AS_OF], settings=settings)
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  folder / "model")
    out = {}
    for lang in ("zh", "en"):
        result = run(folder / "data", folder / "model", AS_OF, folder / f"reports-{lang}", settings=settings,
                     lang=lang, jobs=1)
        assert result.exit_code == 0, result.failed
        out[lang] = result.run_dir
    out["model"] = folder / "model"
    return out


class _Page(HTMLParser):
    """What a page loads from elsewhere, its visible text, its lang and title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.text: list[str] = []
        self.lang = None
        self.title = ""
        self._skip = 0
        self._in_title = False
        self._style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        for name in ("src", "href", "data-src"):
            value = attrs.get(name) or ""
            if tag in ("script", "link", "img", "iframe", "source", "video", "audio") and _remote(value):
                self.external.append(f"{tag} {name}={value}")
        if tag in ("script", "style"):
            self._skip += 1
            self._style = tag == "style"
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
            self._style = False
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._style:
            for url in re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])([^'\")\s]+)", data):
                if _remote(url):
                    self.external.append(f"style {url}")
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.text.append(data)


def _remote(url: str) -> bool:
    return bool(re.match(r"^\s*(https?:)?//", url, re.IGNORECASE))


def _pages(run_dir: Path) -> list[Path]:
    return sorted(run_dir.rglob("*.html"))


def _data_values(run_dir: Path) -> list[str]:
    """School, college, class and dorm names and pseudonyms: text from the data, in any language."""
    frame = pd.read_parquet(run_dir / "report_data" / "list.parquet")
    values = set()
    for column in ("school", "college", "grade", "class_id", "dorm_id", "pseudonym"):
        if column in frame.columns:
            values |= {str(v) for v in frame[column].dropna().unique() if str(v)}
    summary = pd.read_parquet(run_dir / "report_data" / "summary.parquet")
    values |= {str(v) for v in summary.get("file", pd.Series(dtype=str)).dropna().unique()}  # the centre's file names
    info = json.loads((run_dir / "report_data" / "run.json").read_text(encoding="utf-8"))
    values |= {str(info["run_id"]), str(info["model_version"])}
    return sorted(values, key=len, reverse=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_is_self_contained_titled_and_bannered(runs, lang):
    run_dir = runs[lang]
    pages = _pages(run_dir)
    assert len(pages) >= 4  # index, data quality, school, colleges
    for path in pages:
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        assert page.external == [], (path.name, page.external)
        assert page.lang == ("zh-CN" if lang == "zh" else "en"), path.name
        title = page.title.strip()
        assert title and not SNAKE.search(title) and not title.startswith(("school-", "college-")), (path.name, title)
        body = " ".join(page.text)
        assert text("reports.index.confidential", lang) in body, path.name
        assert text("disclaimer", lang) in body, path.name
        info = json.loads((run_dir / "report_data" / "run.json").read_text(encoding="utf-8"))
        assert info["model_version"] in body and info["run_id"] in body, path.name


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_text_of_the_other_language_no_key_no_warning(runs, lang):
    run_dir = runs[lang]
    values = _data_values(run_dir)
    for path in _pages(run_dir):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        body = " ".join(page.text)
        for value in values:  # data values may be in any language
            body = body.replace(value, " ")
        assert not WARNING.search(body), (path.name, WARNING.findall(body))
        assert not SNAKE.search(body), (path.name, SNAKE.findall(body)[:5])
        if lang == "en":
            assert not HAN.search(body), (path.name, HAN.findall(body)[:10], body[max(0, HAN.search(body).start() - 80):][:160])
        else:
            words = set(re.findall(r"[A-Za-z]{2,}", body)) - LATIN_OK
            assert not words, (path.name, sorted(words)[:20])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_executed_notebook_has_stderr_or_a_warning(runs, lang):
    notebooks = sorted((runs[lang] / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        node = nbformat.read(path, as_version=4)
        for cell in node.cells:
            for output in cell.get("outputs", []):
                assert not (output.get("output_type") == "stream" and output.get("name") == "stderr"), \
                    (path.name, output.get("text", "")[:300])
                shown = json.dumps(output.get("data", {}), ensure_ascii=False) + str(output.get("text", ""))
                assert not WARNING.search(shown), (path.name, shown[:300])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_model_development_notebook_shows_a_shap_beeswarm_without_warnings(runs, lang, tmp_path):
    from riskmodel.reports.notebooks import execute, template

    outcome = execute(template("10_model_development"), tmp_path / "md.ipynb", tmp_path / "md.html",
                      {"model_dir": str(runs["model"]), "run_dir": str(runs[lang]), "lang": lang})
    assert outcome["status"] == "ok", outcome["error"]
    node = nbformat.read(tmp_path / "md.ipynb", as_version=4)
    outputs = [o for c in node.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # importance bars and the beeswarm
    page = _Page()
    page.feed((tmp_path / "md.html").read_text(encoding="utf-8"))
    body = " ".join(page.text)
    assert text("reports.md.beeswarm", lang) in body
    assert page.external == []


def test_colleges_sort_as_chinese_readers_expect_whatever_the_locale():
    from riskmodel.reports.index import collation_key

    names = ["物理与电子工程学院", "法学院", "音乐学院", "化学化工学院", "计算机科学与技术学院", "Art School", "外国语学院",
             "经济学院", "心理学院", "新闻传播学院"]
    assert sorted(names, key=collation_key) == ["Art School", "法学院", "化学化工学院", "计算机科学与技术学院", "经济学院",
                                                "外国语学院", "物理与电子工程学院", "新闻传播学院", "心理学院", "音乐学院"]
