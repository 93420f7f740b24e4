"""Running a parametrised notebook with papermill and exporting it to HTML without code.

One function per step, in the style of InnerEye's report pipeline: :func:`check_parameters` refuses
unknown (or secret-looking) parameters before anything runs, because papermill only warns;
:func:`execute` runs the template into an executed copy (kept, with the error, when a cell fails)
and exports HTML with nbconvert's ``HTMLExporter(exclude_input=True)`` in the same process.

The templates live in the repository's ``notebooks/`` folder, which the wheel carries as
``riskmodel/notebooks`` (importlib.resources); :func:`template` finds one by name.

Example
-------
>>> # outcome = execute(template("20_cohort_report"), Path("out/x.ipynb"), Path("out/x.html"),
>>> #                   {"run_dir": "reports/run-...", "cohort_level": "school", "cohort_id": ""})
>>> # outcome["status"]
>>> # 'ok'
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from functools import lru_cache
from importlib import resources
from pathlib import Path

from riskmodel.errors import ConfigError
from riskmodel.outputs import FILE_MODE, write_text
from riskmodel.reports.names import html_text

__all__ = ["NOTEBOOK_DIR", "KernelSession", "template", "notebook_parameters", "check_parameters", "execute",
           "export_html", "kill_kernels"]

log = logging.getLogger(__name__)



def _template_dir() -> Path:
    """Where the templates are: ``riskmodel/notebooks`` inside the installed package (a wheel carries
    them there), which in the repository is a link to the top-level notebooks/ folder; the repository's
    folder itself where links are not checked out (git on Windows without symlinks)."""
    packaged = resources.files("riskmodel").joinpath("notebooks")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "notebooks"


NOTEBOOK_DIR = _template_dir()
# A parameter with one of these words in its name could carry a secret into an executed notebook,
# which keeps its parameters in plain text: the pseudonym key and its path are never parameters.
_SECRET_NAME = re.compile(r"key|secret|password|token|salt", re.IGNORECASE)


def template(name: str, folder: Path | None = None) -> Path:
    """The template notebook ``name`` (``"20_cohort_report"``) in ``folder`` (default: notebooks/)."""
    path = (folder or NOTEBOOK_DIR) / f"{name}.ipynb"
    if not path.exists():
        raise ConfigError(f"{path}: notebook template not found; reinstall riskmodel (its wheel carries the "
                          "templates in riskmodel/notebooks) or check --templates.")
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


def export_html(notebook: Path, target: Path, *, title: str = "", exclude_markdown: bool = True) -> Path:
    """Export an executed notebook to a self-contained HTML page without code cells.

    The page loads nothing from elsewhere (no require.js, MathJax, Mermaid or widget script, no web
    font: nbconvert's CSS is inlined, figures are embedded), says its language (``<html lang>``,
    from the notebook's ``lang`` parameter), carries a real ``<title>`` (the report's first heading,
    else ``title``) and opens with the confidentiality banner, the disclaimer and the run and model
    versions (from the run's ``report_data/run.json`` when the notebook read a run folder).
    Markdown cells are left out by default: the notebooks' prose is shown by code cells
    (:func:`riskmodel.reports.show_text`) in the report language. The same executed notebook gives
    the same page byte for byte (papermill's random id of its injected cell is fixed here), so a
    distributed run's reports are the single-machine run's.
    """
    import nbformat

    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:  # papermill gives the cell it injects a random id: the page would differ run to run
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"
    parameters = node.metadata.get("papermill", {}).get("parameters", {})
    lang = _page_lang(parameters)
    body, _ = _exporter(exclude_markdown).from_notebook_node(node, resources={"metadata": {"name": title}})
    page_title = _first_heading(node) or title or _catalogue_text("reports.page.title", lang)
    body = _HTML_TAG.sub(f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', body, count=1)
    body = _TITLE.sub(lambda _: f"<title>{html_text(page_title)}</title>", body, count=1)
    body = _MAIN.sub(lambda m: m.group(0) + _banner(lang, _run_info(Path(notebook), parameters)), body, count=1)
    return write_text(target, body)


# nbconvert's lab page without anything fetched from the internet: the head's require.js, MathJax and
# Mermaid scripts and the widget manager are left out (the reports need none of them); the page's own
# style sets a CJK font stack and keeps short cells (levels, pseudonyms) on one line.
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">""" + """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","WenQuanYi Micro Hei","Microsoft YaHei",
"PingFang SC",sans-serif}
.riskmodel-banner{margin:1rem 0 1.5rem;padding:.6rem .9rem;background:#fff3cd;border:1px solid #e0c36a;
border-radius:4px;font-size:.9rem;line-height:1.5}
.riskmodel-banner p{margin:.2rem 0}.riskmodel-banner .versions{color:#555}
table.riskmodel td.nowrap,table.riskmodel th.nowrap{white-space:nowrap}
</style>{%- endblock extra_css -%}
"""
_HTML_TAG = re.compile(r'<html lang="[^"]*">')
_TITLE = re.compile(r"<title>.*?</title>", re.DOTALL)
_MAIN = re.compile(r"<main>")
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def _page_lang(parameters: dict) -> str:
    from riskmodel.i18n import LANGUAGES

    lang = parameters.get("lang", "zh")
    return lang if lang in LANGUAGES else "zh"


def _catalogue_text(key: str, lang: str, **values: object) -> str:
    from riskmodel.i18n import text

    return text(key, lang, **values)


def _first_heading(node) -> str:
    """The text of the first ``<h1>`` a code cell displayed (the report's own title), unescaped."""
    import html

    for cell in node.cells:
        for output in cell.get("outputs", []):
            page = output.get("data", {}).get("text/html")
            if page:
                found = _H1.search("".join(page) if isinstance(page, list) else page)
                if found:
                    return html.unescape(_TAGS.sub("", found.group(1))).strip()
    return ""


def _run_info(notebook: Path, parameters: dict) -> dict:
    """``report_data/run.json`` of the run the notebook read (its ``run_dir`` parameter), or ``{}``."""
    import json

    run_dir = parameters.get("run_dir")
    if not isinstance(run_dir, str) or not run_dir:
        return {}
    path = (notebook.parent / run_dir / "report_data" / "run.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _banner(lang: str, info: dict) -> str:
    """Confidentiality banner, disclaimer and the run and model versions, escaped."""
    parts = [f"<p><strong>{html_text(_catalogue_text('reports.index.confidential', lang))}</strong></p>",
             f"<p>{html_text(_catalogue_text('disclaimer', lang))}</p>"]
    if info:
        versions = (f"{_catalogue_text('reports.cohort.as_of', lang)} {info.get('as_of', '')} · "
                    f"{_catalogue_text('reports.index.run', lang)} {info.get('run_id', '')} · "
                    f"{_catalogue_text('reports.index.model', lang)} {info.get('model_version', '')}")
        parts.append(f'<p class="versions">{html_text(versions)}</p>')
    return f'\n<header class="riskmodel-banner" role="note">{"".join(parts)}</header>\n'


_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
_OUTPUT_DIV = re.compile(r'<div (?=class="[^"]*\bjp-OutputArea-output\b)')


def _accessible(page: str, alt: str) -> str:
    """What nbconvert's BeautifulSoup pass adds, done with two regular expressions.

    ``HTMLExporter`` parses every page it makes with BeautifulSoup only to give images without
    ``alt`` a text and make each output focusable (``tabindex``); on a 0.5 MB cohort report that
    pass took about 0.9 s of the export's 1.05 s in the profile (docs/reports.md, Performance).
    """
    page = _IMG_WITHOUT_ALT.sub(f'<img alt="{html_text(alt)}"', page)
    return _OUTPUT_DIV.sub('<div tabindex="0" ', page)


@lru_cache(maxsize=2)
def _exporter(exclude_markdown: bool):
    """One exporter per process: building one compiles its Jinja templates (a second or more).

    nbconvert's ``HTMLExporter`` (lab template, code excluded) with its final BeautifulSoup pass
    replaced by :func:`_accessible`; if nbconvert's internals this relies on change, the standard
    exporter is used (slower, same page).
    """
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter

    class _Exporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            try:
                from nbconvert.filters.highlight import Highlight2HTML
                from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

                langinfo = nb.metadata.get("language_info", {})
                lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
                self.register_filter("highlight_code", self.filters.get(
                    "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
                resources = self._init_resources(resources)
                self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            except (ImportError, AttributeError, TypeError):  # nbconvert changed: its own (slower) path
                log.info("nbconvert internals changed; exporting with the standard HTMLExporter")
                return super().from_notebook_node(nb, resources, **kw)
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page, _figure_alt(nb)), resources

    from jinja2 import DictLoader

    return _Exporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                     exclude_markdown=exclude_markdown, template_name="lab", template_file="riskmodel_page.html.j2",
                     extra_loaders=[DictLoader({"riskmodel_page.html.j2": _PAGE_TEMPLATE})])


def _figure_alt(nb) -> str:
    """The images' alternative text, in the notebook's ``lang`` parameter (Chinese by default)."""
    from riskmodel.i18n import LANGUAGES, text

    lang = nb.metadata.get("papermill", {}).get("parameters", {}).get("lang", "zh")
    return text("reports.figure_alt", lang if lang in LANGUAGES else "zh")


def _session_classes():
    """A kernel manager that hands out one client, and that client made ready once.

    nbclient asks the manager for a new client for every notebook and waits until it is ready;
    jupyter_client's ``wait_for_ready`` then listens for stray IOPub messages until 0.2 s pass in
    silence. With a kernel per notebook that is noise; with one kernel for a dozen reports it was a
    third of a trivial notebook's cost (docs/reports.md, Performance). Keeping one client, its
    sockets connected, also means no notebook can miss its first outputs to a late-joining socket.
    nbclient filters IOPub messages by the request that caused them, so an earlier notebook's late
    messages on the shared client are ignored.
    """
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class SessionClient(AsyncKernelClient):
        _ready = False

        def start_channels(self, *args, **kwargs) -> None:
            if not self.channels_running:  # a second start would restart the heartbeat thread: an error
                super().start_channels(*args, **kwargs)

        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            if not self._ready:
                await super()._async_wait_for_ready(timeout)
                self._ready = True

        wait_for_ready = _async_wait_for_ready

    class SessionManager(AsyncKernelManager):
        _shared = None

        def client(self, **kwargs):
            shared = self._shared
            if shared is None or (shared._ready and not shared.channels_running):  # none yet, or stopped by nbclient
                self._shared = shared = super().client(**kwargs)
            return shared

    return SessionManager, SessionClient


# A Unix socket's path holds at most 107 bytes (sun_path); the kernel's are "<folder>/k<n>-<port>".
_MAX_SOCKET_FOLDER = 80


def _socket_folder(parent: str | None) -> str:
    """A new owner-only folder for one session's sockets and connection file.

    In ``parent`` (or the temporary folder) unless that path is too long for a Unix socket (a deep
    TMPDIR, a Dask worker's scratch folder), then in ``/tmp``.
    """
    folder = tempfile.mkdtemp(prefix="riskmodel-kernel-", dir=parent)
    if len(os.fsencode(folder)) <= _MAX_SOCKET_FOLDER or not os.path.isdir("/tmp"):
        return folder
    os.rmdir(folder)
    return tempfile.mkdtemp(prefix="riskmodel-kernel-", dir="/tmp")


def _command_line(pid: int | str) -> list[bytes]:
    """A process's arguments; none for a process that is gone or dead (a zombie's command line is empty)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return [arg for arg in file.read().split(b"\0") if arg]
    except OSError:  # gone, or not ours to read
        return []


def kill_kernels(folder: str | os.PathLike, *, wait: float = 5.0) -> list[int]:
    """Kill (SIGKILL, with their process groups) the live processes whose command line names a file in
    ``folder``: the kernels whose connection files are there, whoever started them and whether or not
    that process still lives. Returns their process ids once they are dead (or ``wait`` seconds passed).

    A kernel outlives the process that started it when that process is killed (SIGKILL, the OOM
    killer) while the kernel boots: ipykernel then watches only for being re-parented to process 1,
    and an orphan goes to the nearest subreaper instead where there is one (``systemd --user``, a
    container's init). Linux only (it reads ``/proc``); elsewhere it finds nothing.
    """
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc"):
        return []
    prefix = os.fsencode(os.path.join(os.fspath(folder), ""))
    killed = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid() and any(
                arg.startswith(prefix) for arg in _command_line(entry.name)):
            pid = int(entry.name)
            try:  # a kernel leads a process group of its own (jupyter_client starts it in a new session)
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    deadline = time.monotonic() + wait
    while any(_command_line(pid) for pid in killed) and time.monotonic() < deadline:  # exiting takes a moment
        time.sleep(0.01)
    return killed


# what a kernel started ahead imports while it waits for its first notebook (modules stay loaded
# across the ``%reset -f`` before each notebook; no name is left in the notebook's namespace)
_WARM_UP = ("import matplotlib.pyplot, riskmodel.reports, riskmodel.i18n",
            "riskmodel.i18n.catalogue()",
            "del matplotlib, riskmodel")


class KernelSession:
    """One kernel that runs several notebooks in turn, its namespace cleared between them.

    A fresh kernel per notebook pays, every time, for starting Python and importing pandas, matplotlib
    and the CJK font (seconds each on a loaded machine); a run makes one report per college. Each
    notebook still gets an empty namespace (``%reset -f`` and every figure closed before it starts),
    and its parameters cell sets every parameter, so no report sees another's variables. The kernel
    talks over IPC sockets in a private temporary folder rather than TCP ports on localhost (no port
    races between parallel kernels, nothing listening for other accounts). A notebook that kills its
    kernel (a crash, ``os._exit``) or leaves it stuck (a timed-out cell that ignores the interrupt)
    fails alone: the next one gets a new kernel.

    Example
    -------
    >>> # with KernelSession() as session:
    >>> #     execute(template("20_cohort_report"), out_ipynb, out_html, params, session=session)
    """

    def __init__(self, kernel_name: str = "python3", *, reset_timeout: float = 30.0, folder: str | None = None,
                 max_notebooks: int = 0) -> None:
        self._kernel_name = kernel_name
        self.reset_timeout = reset_timeout
        # a kernel that has run this many notebooks is replaced before the next (0: never): whatever a
        # notebook's imports leak (matplotlib's caches, pandas' interned strings) is bounded per kernel
        self.max_notebooks = max_notebooks
        # sockets and connection file live here (in ``folder`` when given: the pool removes it even
        # when its workers are terminated before they can clean up); owner-only (mkdtemp: 0700)
        self._folder = _socket_folder(folder)
        self.used = 0
        self.restarts = 0  # kernels replaced after a notebook killed one, or after max_notebooks
        self._runs = 0  # notebooks run in the current kernel
        self.km = self._manager()

    def _manager(self):
        manager, client = _session_classes()
        return manager(kernel_name=self._kernel_name, transport="ipc", ip=os.path.join(self._folder, f"k{self.restarts}"),
                       connection_file=os.path.join(self._folder, f"k{self.restarts}.json"), client_factory=client)

    def start(self) -> None:
        """Start the kernel now, before its first notebook, and let it import the report modules.

        Returns as soon as the kernel process is launched: it boots and imports (``_WARM_UP``, about
        a second of a report's start) while the caller does other work, the pool's workers their
        share of the warning lists (riskmodel.reports.pool). The first notebook then finds a kernel
        that is ready, clears it and moves it to its folder like any later one.
        """
        from jupyter_core.utils import run_sync

        if self.km.has_kernel:
            return
        run_sync(self.km.start_kernel)(cwd=self._folder, extra_arguments=[
            "--HistoryManager.hist_file=:memory:",  # as nbclient starts it: no history database
            *(f"--IPKernelApp.exec_lines={line}" for line in _WARM_UP)])

    def reset(self, cwd: str | None = None) -> None:
        """Before a notebook: clear the namespace and figures, or replace a kernel that is gone or stuck.

        A no-op before the first notebook (papermill starts the kernel, in that notebook's folder).
        With ``cwd``, the kernel also moves there (the next notebook's folder: a kernel kept by a Dask
        worker from one run to the next must not resolve ``run_dir=".."`` against an earlier run's).
        A kernel that has run ``max_notebooks`` notebooks is replaced.
        A kernel that died (a crash, killed for memory) or does not answer the reset within
        ``reset_timeout`` seconds (a timed-out cell still running) is shut down, and the next
        notebook starts a new one: one report's failure never fails the reports after it.
        """
        from jupyter_core.utils import run_sync

        if not self.km.has_kernel:
            return
        if self.max_notebooks and self._runs >= self.max_notebooks:
            self._replace(f"a report kernel ran {self._runs} notebooks (reports.kernel_max_notebooks)", quiet=True)
            return
        if not run_sync(self.km.is_alive)():
            self._replace("a report kernel stopped while running a notebook")
            return
        try:
            self._clear(cwd)
        except Exception as exc:  # noqa: BLE001 - stuck or broken: a new kernel for the next notebook
            self._replace(f"a report kernel did not answer the reset ({type(exc).__name__})")

    def _clear(self, cwd: str | None = None) -> None:
        from jupyter_core.utils import run_sync

        client = self.km.client()
        client.start_channels()
        # a kernel started ahead (start()) may still be booting on a loaded machine: nbclient's own
        # start-up allowance (60 s) before its first notebook, the reset's after
        run_sync(client.wait_for_ready)(timeout=self.reset_timeout if self.used else max(self.reset_timeout, 60.0))
        code = "%reset -f\nimport matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt"
        if cwd is not None:  # the kernel runs one notebook at a time in one thread: its chdir is safe
            code += f"\nimport os as _os\n_os.chdir({str(cwd)!r})\ndel _os"
        msg_id = client.execute(code, silent=True, store_history=False)
        deadline = time.monotonic() + self.reset_timeout
        while True:  # wait for this request's reply: the next notebook must start clean
            reply = run_sync(client.get_shell_msg)(timeout=max(deadline - time.monotonic(), 0.01))
            if reply["parent_header"].get("msg_id") == msg_id:
                if reply["content"].get("status") != "ok":
                    raise RuntimeError(f"reset failed: {reply['content'].get('ename')}")
                return

    def _replace(self, why: str, *, quiet: bool = False) -> None:
        (log.info if quiet else log.warning)("%s; the next notebook gets a new kernel", why)
        self._shutdown()
        self.restarts += 1
        self._runs = 0
        self.km = self._manager()

    def _shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        shared = self.km._shared
        try:
            if shared is not None and shared.channels_running:
                shared.stop_channels()
            if self.km.has_kernel:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:  # noqa: BLE001 - a dead kernel may refuse a clean shutdown; its folder goes anyway
            log.info("kernel shutdown: %s", type(exc).__name__)

    def kill(self) -> None:
        """Kill the kernel (and what it started) at once, from any thread: no client, no event loop.

        For a pool worker whose parent is gone (riskmodel.reports.pool): ``close`` could wait on a
        notebook that the main thread is running.
        """
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None and process.returncode is None:  # not reaped: its pid is still the kernel's
            try:
                os.killpg(process.pid, signal.SIGKILL) if hasattr(os, "killpg") else process.kill()
            except OSError:
                pass
        kill_kernels(self._folder)  # one starting right now, not yet known to its manager

    def close(self) -> None:
        """Shut the kernel down and remove its sockets' folder."""
        try:
            self._shutdown()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _write_unfinished(path: Path, output_ipynb: Path, parameters: dict, error: str) -> None:
    """The parametrised notebook with the error on top, where papermill left no executed copy.

    papermill writes the executed copy when a cell fails, but not when the kernel itself dies (killed
    for memory, a crash): the run's promise that a failed notebook keeps its copy with the error is
    kept with what is known, the parameters it ran with and how it ended.
    """
    import nbformat
    import papermill as pm

    try:
        pm.execute_notebook(str(path), str(output_ipynb), parameters=parameters, prepare_only=True, progress_bar=False)
        node = nbformat.read(output_ipynb, as_version=4)
        node.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"**riskmodel: this notebook did not finish.** {html_text(error)}\n\n"
            "The kernel stopped before papermill could save its outputs; the cells below were not run."))
        nbformat.write(node, output_ipynb)
    except Exception as exc:  # noqa: BLE001 - the outcome already says it failed
        log.warning("could not write the unfinished copy of %s: %s", Path(path).name, type(exc).__name__)


def execute(path: Path, output_ipynb: Path, output_html: Path | None, parameters: dict, *,
            title: str = "riskmodel", timeout: int = 600, kernel_name: str = "python3",
            session: KernelSession | None = None, folder: str | None = None) -> dict:
    """Run ``path`` with ``parameters`` into ``output_ipynb``; export ``output_html`` if it succeeded.

    A failing cell does not raise: the executed copy keeps its outputs and the error, and the
    returned outcome says what failed. Unknown parameters raise before anything runs.

    With ``session``, the notebook runs in that session's kernel (started on first use, in the
    folder of ``output_ipynb``, and moved there before each later notebook); without, a session of
    its own is started and stopped around it (its sockets in a new folder inside ``folder`` when
    given: a pool's, which kills what is left there when it ends). Either way the kernel talks over
    IPC sockets in a private folder (no TCP port to race for, papermill #511) and this process's
    working directory is never changed (papermill's ``cwd`` would ``chdir`` every thread of a Dask
    worker).

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
    own = session is None  # a session of its own for this notebook: IPC sockets, never TCP ports
    if own:
        session = KernelSession(kernel_name, folder=folder)
    try:
        session.reset(cwd=str(output_ipynb.parent))
        session.used += 1
        session._runs += 1
        # The kernel starts in the notebook's folder through nbclient's resources path, not papermill's
        # `cwd`, which chdir()s the whole process: wrong for every other thread (a Dask worker's)
        pm.execute_notebook(str(path), str(output_ipynb), parameters=parameters, kernel_name=kernel_name,
                            progress_bar=False, log_output=False, execution_timeout=timeout,
                            request_save_on_cell_execute=False, km=session.km,
                            resources={"metadata": {"path": str(output_ipynb.parent)}})
        if output_html is not None:
            export_html(output_ipynb, output_html, title=title)
            outcome["html"] = str(output_html)
        outcome["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the others
        name = getattr(exc, "ename", type(exc).__name__)
        message = str(getattr(exc, "evalue", exc))
        outcome.update(status="failed", error=f"{name}: {message[:500]}")
        log.warning("notebook %s failed with %s", Path(path).name, name)  # never the message: it may name a student
        if not output_ipynb.exists():  # the kernel died (or never started): papermill wrote nothing
            _write_unfinished(path, output_ipynb, parameters, outcome["error"])
    finally:
        if own:
            session.close()
        if output_ipynb.exists():
            output_ipynb.chmod(FILE_MODE)
    outcome["seconds"] = round(time.perf_counter() - started, 3)
    return outcome
