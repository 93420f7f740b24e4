"""Screenshots of a run's pages for the README (docs/screenshots/), with headless Chromium.

    python scripts/screenshots.py RUN_DIR_ZH RUN_DIR_EN docs/screenshots

Takes the index, the school report, the first college report and the student file (notebook 40,
executed here for the top-ranked student) of each run, at 1280 px wide, and stores each as a
palette PNG scaled to 760 px wide (a few tens of KB each). Chromium runs without network, sync or
a profile of its own; the pages load nothing from elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHROMIUM = ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def shoot(page: Path, target: Path, *, height: int = 2000, width: int = 760, bottom: bool = False) -> Path:
    """``page`` at 1280 px wide: its top ``height`` px, or (``bottom``) the last ``height`` px of its content."""
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "raw.png"
        subprocess.run([*CHROMIUM, f"--user-data-dir={profile}/p", f"--screenshot={raw}",
                        f"--window-size=1280,{8000 if bottom else height}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
        image = Image.open(raw).convert("RGB")
        if bottom:
            from PIL import ImageChops

            content = ImageChops.invert(image.convert("L")).getbbox()  # the non-white part of the page
            end = min(image.height, (content[3] if content else image.height) + 24)
            image = image.crop((0, max(0, end - height), image.width, end))
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
        image.quantize(colors=96, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    return target


def student_file(run_dir: Path, lang: str, out: Path) -> Path:
    from riskmodel.reports.notebooks import execute, template

    ipynb, html = out / f"student-{lang}.ipynb", out / f"student-{lang}.html"
    outcome = execute(template("40_student_file"), ipynb, html, {"run_dir": str(run_dir.resolve()), "lang": lang})
    if outcome["status"] != "ok":
        raise SystemExit(f"student file failed: {outcome['error']}")
    return html


def main(run_zh: str, run_en: str, target: str) -> None:
    target_dir = Path(target)
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for lang, run in (("zh", Path(run_zh)), ("en", Path(run_en))):
            reports = sorted((run / "reports").glob("*.html"))
            school = next(p for p in reports if p.name.startswith("school-"))
            college = next(p for p in reports if p.name.startswith(("college-", "grade-")))
            shoot(run / "index.html", target_dir / f"index-{lang}.png", height=1100)
            shoot(school, target_dir / f"school-{lang}.png", height=1500)
            shoot(college, target_dir / f"college-{lang}.png", height=1500, bottom=True)
            shoot(student_file(run, lang, Path(scratch)), target_dir / f"student-{lang}.png", height=1500)


if __name__ == "__main__":
    main(*sys.argv[1:4])
