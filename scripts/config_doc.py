"""Write docs/configuration.md from riskmodel/config.py: every key, its default and its meaning.

config.py is the one source: defaults come from the settings model, meanings from each field's
comment (the trailing comment on its last line, else the comment lines just above it). Run after
changing a setting; tests/test_config.py fails when the committed page is out of date.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riskmodel.config import Settings  # noqa: E402

HEADER = """# Configuration

Every `riskmodel` verb takes `--config FILE`: a YAML file whose top-level keys are the sections below.
A centre writes only what it changes; everything else keeps its default. An unknown key or a wrong
value stops the command with the file, the key and what is wrong (exit status 2).

```yaml
warning:
  capacity: {I: 20, II: 60, III: 150}   # students the centre can see per level per month
labels:
  horizon_days: 90
reports:
  lang: en
```

This page is generated from `riskmodel/config.py` by `python scripts/config_doc.py`; edit that file,
not this page.
"""


def _comments(source: str) -> dict[tuple[str, str], str]:
    """(class, field) -> the field's comment in config.py."""
    lines = source.splitlines()
    found: dict[tuple[str, str], str] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            last = lines[stmt.end_lineno - 1]
            comment = last.split("  # ", 1)[1] if "  # " in last else ""
            if not comment:
                above, i = [], stmt.lineno - 2
                while i >= 0 and lines[i].strip().startswith("#"):
                    above.insert(0, lines[i].strip().lstrip("# ").strip())
                    i -= 1
                comment = " ".join(above)
            found[(node.name, stmt.target.id)] = comment
    return found


def render() -> str:
    comments = _comments((ROOT / "riskmodel" / "config.py").read_text(encoding="utf-8"))
    defaults = Settings().as_dict()
    out = [HEADER]
    for section, field in Settings.model_fields.items():
        model = field.annotation
        out.append(f"\n## `{section}`\n\n{(model.__doc__ or '').strip()}\n")
        out.append("| key | default | meaning |\n|---|---|---|")
        for key in model.model_fields:
            default = json.dumps(defaults[section][key], ensure_ascii=False)
            meaning = comments.get((model.__name__, key), "").replace("|", "\\|")
            out.append(f"| `{key}` | `{default}` | {meaning} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "configuration.md").write_text(render(), encoding="utf-8")
