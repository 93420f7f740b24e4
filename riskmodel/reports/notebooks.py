"""Running a parametrised notebook with papermill and exporting it to HTML without code.

One function per step, in the style of InnerEye's report pipeline: :func:`check_parameters` refuses
unknown (or secret-looking) parameters before anything runs, because papermill only warns;
:func:`execute` runs the template into an executed copy (kept, with the error, when a cell fails)
and exports HTML with nbconvert's ``HTMLExporter(exclude_input=True)`` in the same process.

The templates live in the repository's ``notebooks/`` folder; :func:`template` finds one by name.

Example
-------
>>> # outcome = execute(template("20_cohort_report"), Path("out/x.ipynb"), Path("out/x.html"),
>>> #                   {"run_dir": "reports/run-...", "cohort_level": "school", "cohort_id": ""})
>>> # outcome["status"]
>>> # 'ok'
"""

from __future__ import annotations

import logging
import re
import time
from functools import lru_cache
from pathlib import Path

from riskmodel.errors import ConfigError
from riskmodel.outputs import FILE_MODE, write_text

__all__ = ["NOTEBOOK_DIR", "template", "notebook_parameters", "check_parameters", "execute", "export_html"]

log = logging.getLogger(__name__)

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
# A parameter with one of these words in its name could carry a secret into an executed notebook,
# which keeps its parameters in plain text: the pseudonym key and its path are never parameters.
_SECRET_NAME = re.compile(r"key|secret|password|token|salt", re.IGNORECASE)


def template(name: str, folder: Path | None = None) -> Path:
    """The template notebook ``name`` (``"20_cohort_report"``) in ``folder`` (default: notebooks/)."""
    path = (folder or NOTEBOOK_DIR) / f"{name}.ipynb"
    if not path.exists():
        raise ConfigError(f"{path}: notebook template not found; riskmodel's notebooks/ folder must sit "
                          "beside the riskmodel package (install from the repository).")
    return path


@lru_cache(maxsize=32)
def _parameters_cached(path: str, mtime: float) -> dict[str, dict]:
    import papermill as pm

    return {name: dict(spec) for name, spec in pm.inspect_notebook(path).items()}


def notebook_parameters(path: Path) -> dict[str, dict]:
    """Name -> ``{name, inferred_type_name, default, help}`` of the template's ``parameters`` cell."""
    path = Path(path)
    return _parameters_cached(str(path), path.stat().st_mtime)


def check_parameters(path: Path, parameters: dict) -> None:
    """Refuse parameters the notebook does not declare, and any that looks like a secret.

    Raises
    ------
    ConfigError
        Naming the unknown parameters and the ones the notebook takes.
    """
    declared = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ConfigError(f"{Path(path).name}: unknown parameter(s) {unknown}; it takes {sorted(declared)}.")
    secret = sorted(name for name in parameters if _SECRET_NAME.search(name))
    if secret:
        raise ConfigError(f"{Path(path).name}: parameter(s) {secret} look like secrets; the pseudonym key and "
                          "its path are never notebook parameters (notebooks read the run folder only).")


def export_html(notebook: Path, target: Path, *, title: str, exclude_markdown: bool = True) -> Path:
    """Export an executed notebook to HTML without code cells (and, by default, without markdown).

    The markdown cells speak to a researcher in JupyterLab; the exported report takes its headings
    from the code's output, which is in the report language.
    """
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            exclude_markdown=exclude_markdown)
    node = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": title}})
    return write_text(target, body)


def execute(path: Path, output_ipynb: Path, output_html: Path | None, parameters: dict, *,
            title: str = "riskmodel", timeout: int = 600, kernel_name: str = "python3") -> dict:
    """Run ``path`` with ``parameters`` into ``output_ipynb``; export ``output_html`` if it succeeded.

    A failing cell does not raise: the executed copy keeps its outputs and the error, and the
    returned outcome says what failed. Unknown parameters raise before anything runs.

    Returns
    -------
    dict
        ``status`` (``ok`` or ``failed``), ``seconds``, ``notebook``, ``html`` (``None`` if failed),
        ``error`` (exception name and message, or ``None``).
    """
    import papermill as pm

    check_parameters(path, parameters)
    started = time.perf_counter()
    outcome: dict = {"notebook": str(output_ipynb), "html": None, "error": None}
    try:
        pm.execute_notebook(str(path), str(output_ipynb), parameters=parameters, kernel_name=kernel_name,
                            progress_bar=False, log_output=False, execution_timeout=timeout,
                            cwd=str(output_ipynb.parent))
        if output_html is not None:
            export_html(output_ipynb, output_html, title=title)
            outcome["html"] = str(output_html)
        outcome["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the others
        name = getattr(exc, "ename", type(exc).__name__)
        message = str(getattr(exc, "evalue", exc))
        outcome.update(status="failed", error=f"{name}: {message[:500]}")
        log.warning("notebook %s failed with %s", Path(path).name, name)  # never the message: it may name a student
    finally:
        if output_ipynb.exists():
            output_ipynb.chmod(FILE_MODE)
    outcome["seconds"] = round(time.perf_counter() - started, 3)
    return outcome
