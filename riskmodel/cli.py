"""The ``riskmodel`` command: one small function per verb, no logic.

Each verb parses its options, refuses output paths that would destroy an input
(:func:`riskmodel.outputs.guard_outputs`), calls one function of the stage that owns the work, and
prints a short summary. Errors riskmodel raises on purpose (:mod:`riskmodel.errors`) become one clear
line on standard error and the exit status the README documents; so do an interrupt (Ctrl-C or
SIGTERM: 130) and an operating-system error (a file that cannot be read: 2; a disk that is full or
read-only: 3), whose traceback ``--verbose`` still shows. Anything else is a bug and keeps its
traceback. Output never fails for want of an encoding: on a console that cannot show Chinese
(``LANG=C``, ``PYTHONIOENCODING=ascii``) the characters are written as ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from riskmodel.errors import EXIT_INTERRUPTED, RiskmodelError, terminate_as_interrupt
from riskmodel.outputs import DISK_ERRNOS, guard_outputs
from riskmodel.vocab import MODEL_KINDS

app = typer.Typer(
    name="riskmodel",
    help="Student mental-health crisis early warning: validate data, score screenings, train, "
    "make the monthly warning list and cohort reports. Decision support, not diagnosis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Settings YAML (docs/configuration.md); defaults when omitted.")
]
DataOption = Annotated[Path, typer.Option("--data", help="Data folder (docs/data.md) or a DuckDB store (.duckdb); "
                                                          "train and audit need its outcomes table.")]
ModelDirOption = Annotated[Path, typer.Option("--model", help="Model folder written by `riskmodel train`.")]
AsOfOption = Annotated[str, typer.Option("--as-of", metavar="DATE",
                                         help="As-of date YYYY-MM-DD; nothing after it is used.")]
LangOption = Annotated[str, typer.Option("--lang", metavar="zh|en", help="zh or en; default settings.reports.lang.")]


def _plain_metavars() -> None:
    """Help shows ``PATH``, ``DATE``, ``INT`` as Unix tools do, not typer 0.29's ``<path>``, and nothing after
    a flag (``--help <bool>`` read as if it took a value). Falls back to typer's own text if it changes."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_riskmodel_plain", False):
        return

    def display_type_rich(self, ctx):
        if self.metavar is not None:
            return self.metavar or None
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        shown = original(self, ctx)
        if not shown or not shown.startswith("<"):
            return shown
        word = shown.strip("<>.").split(" ")[0]
        return {"str": "TEXT", "int": "INT", "float": "NUMBER", "path": "PATH"}.get(word, word.upper())

    display_type_rich._riskmodel_plain = True
    TyperOption.display_type_rich = display_type_rich


_plain_metavars()


log = logging.getLogger(__name__)


def _fail(message: str, status: int) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return typer.Exit(status)


def verb(func):
    """Register ``func`` as a verb; turn riskmodel's own errors, interrupts and OS errors into one line and a status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with terminate_as_interrupt():
                return func(*args, **kwargs)
        except RiskmodelError as exc:
            raise _fail(escape(str(exc)), exc.exit_code) from None
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: every output in progress was removed by its writer
            console.print("interrupted: no output was left half-written; run the command again", highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:  # the machine, not riskmodel: one line for the scheduler, the traceback with -v
            log.debug("operating-system error", exc_info=True)
            where = f"{exc.filename}: " if exc.filename else ""
            if exc.errno in DISK_ERRNOS:
                raise _fail(escape(f"{where}cannot write ({exc.strerror}); free space or choose another output "
                                   "folder, then run again."), 3) from None
            raise _fail(escape(f"{where}{exc.strerror or exc}; check that the path exists and that this account "
                               "may read it, then run again."), 2) from None

    return app.command()(wrapper)


def _show_version(value: bool) -> None:
    if value:
        from riskmodel import __version__

        typer.echo(f"riskmodel {__version__}")
        raise typer.Exit(0)


def _tolerant_streams() -> None:
    """Never crash on a character the console cannot encode: write it as an escape instead."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot be reconfigured (closed, detached)
                pass


def _guard(outputs: dict, *, folders: tuple[str, ...] = ("--out",), **inputs) -> None:
    """:func:`riskmodel.outputs.guard_outputs` with the inputs named as the messages say them."""
    guard_outputs(outputs, inputs={name.replace("_", " "): path for name, path in inputs.items()}, folders=folders)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to standard error.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print riskmodel's version and exit.")] = False,
) -> None:
    _tolerant_streams()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _settings(config: Path | None):
    from riskmodel.config import load_settings

    return load_settings(config)


def _as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01") from None


@verb
def validate(
    data_dir: Annotated[Path, typer.Argument(help="Data folder: students.csv, screenings.xlsx ... (docs/data.md).")],
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", help="Column-mapping YAML, laid over the shipped Chinese headers (docs/data.md).")] = None,
    rejected: Annotated[Path | None, typer.Option(
        "--rejected", help="Rejected-rows CSV to write; default DATA_DIR_rejected_rows.csv beside the folder.")] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", help="Also write the validated data to this DuckDB file.")] = None,
    config: ConfigOption = None,
) -> None:
    """Check a data folder against the data contract: per-table summary, rejected rows with reasons.

    Exit 0 when the data is usable, 2 on a fatal problem (missing table or column, unreadable file).
    """
    from riskmodel.data.validate import default_rejected_path, run_validate

    _guard({"--rejected": rejected if rejected is not None else default_rejected_path(data_dir), "--store": store},
           folders=(), data_folder=data_dir, mapping_file=mapping, configuration_file=config)
    run_validate(data_dir, settings=_settings(config), mapping=mapping, rejected_path=rejected,
                 store_path=store, console=Console())


@verb
def features(
    data: DataOption,
    as_of: AsOfOption,
    out: Annotated[Path, typer.Option("--out", help="Matrix to write: .parquet or .csv (UTF-8 with BOM).")],
    config: ConfigOption = None,
) -> None:
    """Write the point-in-time feature matrix of one as-of date, for modelling in your own notebook.

    One row per student enrolled on the date, one column per feature (docs/features.md); the
    descriptions of every column are in riskmodel.features.catalogue().
    """
    from riskmodel.features.export import write_feature_matrix

    _guard({"--out": out}, folders=(), data_folder=data, configuration_file=config)
    frame = write_feature_matrix(data, _as_of(as_of), out, settings=_settings(config))
    console.print(f"{out}: {len(frame)} students x {frame.shape[1] - 2} features, as of {as_of}", highlight=False)


@verb
def train(
    data: DataOption,
    until: Annotated[str, typer.Option("--until", help="Nothing after this date is used (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="New model folder to write; never overwritten.")],
    model: Annotated[str, typer.Option("--model", help="lightgbm, logistic or rules; default settings.model.kind.")] = "",
    config: ConfigOption = None,
) -> None:
    """Train, calibrate on a later period and evaluate on a held-out later period; save the model.

    Monthly as-of dates up to the last whose outcome window closes by --until (docs/models.md).
    """
    from riskmodel.models.commands import train_command

    if model and model not in MODEL_KINDS:
        raise typer.BadParameter(f"--model {model!r}: use lightgbm, logistic or rules")
    _guard({"--out": out}, data_folder=data, configuration_file=config)
    with console.status(f"training on {data} up to {until} (about a minute for 20,000 students)"):
        fitted = train_command(data, _as_of(until), out, settings=_settings(config), kind=model or None)
    m = fitted.meta.get("metrics_holdout", {})
    console.print(f"{out}: {fitted.kind} model {fitted.version}; held-out AP {m.get('average_precision', float('nan')):.3f}, "
                  f"recall at I+II {m.get('recall_at_I_II', float('nan')):.3f}, ECE {m.get('ece_quantile', float('nan')):.4f}",
                  highlight=False)


@verb
def score(
    data: DataOption,
    model: ModelDirOption,
    as_of: AsOfOption,
    out: Annotated[Path, typer.Option("--out", help="New folder for the list (CSV, XLSX, Parquet); never overwritten.")],
    lang: LangOption = "",
    previous: Annotated[Path | None, typer.Option(
        "--previous", help="The previous list (warning_list.parquet) for the change column.")] = None,
    config: ConfigOption = None,
    cluster: Annotated[str, typer.Option(
        "--cluster", help="Score a store's schools in batches on a Dask cluster: local:N (N worker processes here) "
                          "or a scheduler's address (tcp://host:8786); the store and the model must be on storage "
                          "the workers share (docs/scale.md). The same list as without it.")] = "",
) -> None:
    """Make the warning list alone (no reports): levels, scores, hard rules, reasons, change."""
    from riskmodel.data.store import is_store
    from riskmodel.warning.commands import score_command

    if lang and lang not in ("zh", "en"):
        raise typer.BadParameter(f"--lang {lang!r}: use zh or en")
    _guard({"--out": out}, data_folder=data, model_folder=model, previous_list=previous, configuration_file=config)
    settings = _settings(config)
    with contextlib.ExitStack() as stack:
        client = None
        if cluster:  # batches of schools as tasks on a Dask cluster (riskmodel.warning.stream, docs/scale.md)
            from riskmodel.reports.cluster import check_versions, open_cluster

            client = stack.enter_context(open_cluster(cluster, settings=settings.cluster))
            check_versions(client)
        on_batch = None
        if is_store(data):  # a store is scored batch by batch of schools: minutes at two million students
            from riskmodel.reports.runlog import progress_bar

            bar = stack.enter_context(progress_bar(0, True))
            task = bar.add_task("schools", total=None)
            on_batch = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        listed, paths = score_command(data, model, _as_of(as_of), out, settings=settings, lang=lang or None,
                                      previous=previous, client=client, progress=on_batch)
    counts = listed["level"].value_counts().to_dict()
    changes = listed["change"].value_counts().to_dict()
    from riskmodel.i18n import text

    said = text("cli.score.done", lang or _settings(config).reports.lang, out=out, I=counts.get("I", 0),
                II=counts.get("II", 0), III=counts.get("III", 0), cleared=changes.get("cleared", 0),
                files=", ".join(p.name for p in paths.values()))
    console.print(said, highlight=False, soft_wrap=True)
    if changes.get("dropped"):
        console.print(f"[bold red]dropped:[/] {changes['dropped']} previously listed student(s) not scored: missing from "
                      "the register or rejected (change = dropped in the list)", highlight=False)


@verb
def score_screenings(
    in_file: Annotated[Path, typer.Argument(help="A screenings export: .csv, .xlsx or .parquet (docs/instruments.md).")],
    out: Annotated[Path, typer.Option("--out", help="Scores to write, one row per administration: .csv, .xlsx or .parquet.")],
    mapping: Annotated[Path | None, typer.Option(
        "--mapping", help="Column-mapping YAML, laid over the shipped Chinese headers (docs/data.md).")] = None,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="School stage of every row (primary ... graduate): selects the PHQ-9 cut-off; default 10.")] = None,
    config: ConfigOption = None,
) -> None:
    """Score a screening export (UPI, PHQ-9, GAD-7, SCL-90, SDS, SAS, MHT) exactly as the manuals do.

    Writes totals, standard scores, subscales, bands, positive screens, critical items, classes and
    validity flags; rejected rows with their reasons go to OUT's name + _rejected beside it.
    """
    from riskmodel.i18n import text
    from riskmodel.instruments.commands import rejected_path, score_screenings_file

    _guard({"--out": out, "--out's rejected rows": rejected_path(out)}, folders=(), input_file=in_file,
           mapping_file=mapping, configuration_file=config)
    settings = _settings(config)
    scored, rejected, paths = score_screenings_file(in_file, out, settings=settings, mapping=mapping, stage=stage)
    console.print(text("instruments.cli.scored", settings.reports.lang, n=len(scored), out=paths["scores"],
                       rejected=len(rejected), rejected_out=paths["rejected"]), highlight=False)


@verb
def synth(
    out: Annotated[Path, typer.Option("--out", help="New folder for the synthetic data (with _truth/); never overwritten.")],
    students: Annotated[int, typer.Option("--students", help="Roughly how many distinct students.")] = 20000,
    years: Annotated[int, typer.Option("--years", help="Years of data, from --start.")] = 4,
    stage: Annotated[str, typer.Option("--stage", help="university or k12 (a district of schools).")] = "university",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files, byte for byte.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First day YYYY-MM-DD; default 2022-09-01.")] = "",
    under_recorded: Annotated[str, typer.Option(
        "--under-recorded", help="GROUP:P records that group's outcomes with probability P only "
        "(left_behind:0.3, gender=F:0.5): an unfairness planted for the audit.")] = "",
    config: ConfigOption = None,
    schools: Annotated[int, typer.Option(
        "--schools", min=1, help="Schools of about --students students each, generated and written one at a "
        "time (a district or province; memory of one school).")] = 1,
) -> None:
    """Write a synthetic cohort in the data contract's form (docs/synthetic.md): no real student in it."""
    from riskmodel.i18n import text
    from riskmodel.synth import generate, generate_schools, parse_under_recorded, write, write_schools

    _guard({"--out": out}, configuration_file=config)
    if schools > 1:
        rows = write_schools(generate_schools(schools=schools, students=students, years=years, stage=stage, seed=seed,
                                              start=_as_of(start) if start else None,
                                              under_recorded=parse_under_recorded(under_recorded)
                                              if under_recorded else None), out)
        console.print(text("synth.done", _settings(config).reports.lang, out=out, stage=stage,
                           students=rows["students"], years=years, seed=seed, screenings=rows["screenings"],
                           outcomes=rows["outcomes"]), highlight=False)
        return
    cohort = generate(students=students, years=years, stage=stage, seed=seed, start=_as_of(start) if start else None,
                      under_recorded=parse_under_recorded(under_recorded) if under_recorded else None)
    write(cohort, out)
    console.print(text("synth.done", _settings(config).reports.lang, out=out, stage=stage,
                       students=len(cohort.tables["students"]), years=years, seed=seed,
                       screenings=len(cohort.tables["screenings"]), outcomes=len(cohort.tables["outcomes"])),
                  highlight=False)


@verb
def audit(
    data: DataOption,
    model: ModelDirOption,
    date_from: Annotated[str, typer.Option("--from", help="First as-of month audited (YYYY-MM-DD), after the model's --until.")],
    date_to: Annotated[str, typer.Option("--to", help="Last as-of month audited (YYYY-MM-DD); its outcome window "
                                                      "must be in the data.")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the audit tables and model card; never overwritten.")],
    lang: LangOption = "",
    config: ConfigOption = None,
    scores: Annotated[list[Path] | None, typer.Option(
        "--scores", help="A run folder or scores.parquet the model issued in an audited month (repeatable): those "
                         "months are judged as issued, not re-scored.")] = None,
) -> None:
    """Audit a model on a later period: ranking, calibration, groups, stability, drift, model card (docs/audit.md)."""
    from riskmodel.audit.commands import audit_command

    if lang and lang not in ("zh", "en"):
        raise typer.BadParameter(f"--lang {lang!r}: use zh or en")
    _guard({"--out": out}, data_folder=data, model_folder=model, configuration_file=config)
    with console.status(f"auditing {model} from {date_from} to {date_to}"):
        result = audit_command(data, model, _as_of(date_from), _as_of(date_to), out, settings=_settings(config),
                               lang=lang or None, scores=scores or ())
    flagged = result.summary["flagged_gaps"]
    console.print(f"{out}: {result.summary['period']['dates']} months audited; {len(flagged)} group gap(s) flagged, "
                  f"{len(result.summary['drifted_variables'])} variable(s) drifted; model_card.md", highlight=False)


@verb
def run(
    data: DataOption,
    model: ModelDirOption,
    as_of: AsOfOption,
    out: Annotated[Path, typer.Option("--out", help="Reports folder; each run gets a new folder in it.")],
    lang: LangOption = "",
    jobs: Annotated[int, typer.Option("--jobs", help="Notebooks run at once; 0: settings.reports.jobs.", min=0)] = 0,
    config: ConfigOption = None,
    accept_register_loss: Annotated[bool, typer.Option(
        "--accept-register-loss", help="Run although more than warning.max_register_loss of the previous run's "
                                       "students are missing from the register (e.g. a year group left).")] = False,
    cluster: Annotated[str, typer.Option(
        "--cluster", help="Run one task per school on a Dask cluster: local:N (N worker processes here) or a "
                          "scheduler's address (tcp://host:8786); the output folder must be on storage the workers "
                          "share (docs/scale.md).")] = "",
) -> None:
    """The scheduled run: list, cohort reports for the school and each college (or grade), index page.

    Exit status 0: done; 1: some reports failed, or previously listed students were not scored
    (manifest.json says which); 2: unusable input (also: the register lost more than
    warning.max_register_loss of the previous run's students); 3: the output cannot be written
    (docs/scheduling.md). Nothing is written unless pre-flight passes.
    """
    from riskmodel.reports.runner import run as run_reports

    if lang and lang not in ("zh", "en"):
        raise typer.BadParameter(f"--lang {lang!r}: use zh or en")
    _guard({"--out": out}, data_folder=data, model_folder=model, configuration_file=config)
    if cluster:  # one task per school on a Dask cluster (riskmodel.reports.distributed, docs/scale.md)
        from riskmodel.reports.distributed import run_distributed

        result = run_distributed(data, model, _as_of(as_of), out, settings=_settings(config), cluster=cluster,
                                 lang=lang or None, progress=True, accept_register_loss=accept_register_loss)
    else:
        result = run_reports(data, model, _as_of(as_of), out, settings=_settings(config), lang=lang or None,
                             jobs=jobs or None, progress=True,  # Ctrl-C, SIGTERM: exit 130 (verb), nothing left behind
                             accept_register_loss=accept_register_loss)
    console.print(f"{result.run_dir / 'index.html'}", highlight=False, soft_wrap=True)
    if result.dropped:  # a count here (cron mail); the pseudonyms are in manifest.json and on the index page
        console.print(f"[bold red]dropped:[/] {len(result.dropped)} previously listed student(s) not scored: missing "
                      "from the register or rejected (see manifest.json 'dropped' and the index page)", highlight=False)
    if result.failed:
        from riskmodel.i18n import text

        failed = text("cli.run.failed", lang or _settings(config).reports.lang, reports=", ".join(result.failed))
        console.print(f"[bold red]{failed}[/]", highlight=False)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@verb
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for data/synthetic, models/demo and reports/.")] = Path("."),
    students: Annotated[int, typer.Option("--students", help="Students of the synthetic university.", min=50)] = 20000,
    years: Annotated[int, typer.Option("--years", help="Years of synthetic data (the last one is left for testing).",
                                       min=2)] = 4,
    jobs: Annotated[int, typer.Option("--jobs", help="Notebooks run at once; 0: settings.reports.jobs.", min=0)] = 0,
    months: Annotated[int, typer.Option("--months", help="Monthly runs to make, ending with the demo's as-of date "
                                        "(2 or more: the reports show change and trend).", min=1)] = 4,
    config: ConfigOption = None,
) -> None:
    """Generate the bundled synthetic cohort, train a model, make a monthly run; print the index page."""
    from riskmodel.reports.demo import demo as make_demo

    _guard({"--out": out}, configuration_file=config)
    result = make_demo(out, students=students, years=years, settings=_settings(config), jobs=jobs or None,
                       progress=True, months=months)
    console.print(f"{result.run_dir / 'index.html'}", highlight=False, soft_wrap=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


reviews_app = typer.Typer(help="The review loop: bring a meeting's decisions (研判结论) into the reviews table.",
                          no_args_is_help=True)
app.add_typer(reviews_app, name="reviews")


@reviews_app.command("import")
def reviews_import(
    file: Annotated[Path, typer.Argument(help="The warning_list.xlsx whose decisions sheet the meeting filled in.")],
    data: DataOption,
    by: Annotated[str, typer.Option("--by", help="Who imports the decisions (a role or a name); recorded with them.")],
    config: ConfigOption = None,
) -> None:
    """Append the filled decisions sheet of FILE to the reviews table of --data (docs/warning_list.md).

    Rows that cannot be read are listed (file, row, column, what to do) and left out; the rest are
    appended with who imported them and when. Importing the same file twice adds nothing. Exit status
    0: every filled row imported (or already present); 1: some rows rejected; 2: unusable input;
    3: the reviews table cannot be written.
    """
    from riskmodel.i18n import text
    from riskmodel.warning.reviews_import import import_decisions

    try:
        settings = _settings(config)
        result = import_decisions(file, data, settings=settings, by=by)
    except RiskmodelError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    lang = settings.reports.lang  # the centre's language: the summary and the rejections read in it
    for reason in result.rejected["reason"]:
        console.print(text("warning.decisions.cli.rejected", lang, reason=reason), style="yellow", markup=False,
                      highlight=False, soft_wrap=True)
    console.print(text("warning.decisions.cli.summary", lang, target=result.target, added=result.added,
                       duplicates=result.duplicates, rejected=len(result.rejected["row"].unique())),
                  markup=False, highlight=False, soft_wrap=True)
    if len(result.rejected):
        raise typer.Exit(1)


# --------------------------------------------------------------------------------------------- handover
keys_app = typer.Typer(help="The centre's key pair for handover packets (docs/handover.md).", no_args_is_help=True)
handover_app = typer.Typer(help="One student's file to or from another centre, signed and encrypted "
                           "(docs/handover.md).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(handover_app, name="handover")


def _group_verb(group: typer.Typer, name: str):
    """Register a verb of a command group, with the same error handling as :func:`verb`."""

    def register(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except RiskmodelError as exc:
                console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
                raise typer.Exit(exc.exit_code) from None

        return group.command(name)(wrapper)

    return register


@_group_verb(keys_app, "init")
def keys_init(
    key_dir: Annotated[Path, typer.Argument(help="New folder for centre.key (private) and centre.pub; outside any "
                                                 "git repository.")],
    name: Annotated[str, typer.Option("--name", help="The centre's name, shown to the centres you send to.")] = "",
    config: ConfigOption = None,
) -> None:
    """Make the centre's keys: centre.key (private, mode 0600) and centre.pub (give it to other centres)."""
    from riskmodel.handover.keys import PRIVATE_FILE, PUBLIC_FILE, init_keys
    from riskmodel.i18n import text

    keys = init_keys(key_dir, name=name)
    console.print(text("handover.cli.keys", _settings(config).reports.lang, private=key_dir / PRIVATE_FILE,
                       public=key_dir / PUBLIC_FILE, fingerprint=keys.fingerprint), highlight=False, soft_wrap=True)


@_group_verb(handover_app, "export")
def handover_export(
    data: DataOption,
    student: Annotated[str, typer.Option("--student", help="The student's ID (学号) at this school.")],
    key: Annotated[Path, typer.Option("--key", help="This centre's key folder (riskmodel keys init).")],
    to: Annotated[Path, typer.Option("--to", help="The receiving centre's centre.pub.")],
    out: Annotated[Path, typer.Option("--out", help="Packet file to write; never overwritten.")],
    include_notes: Annotated[bool, typer.Option("--include-notes", help="Include free-text notes (withheld by "
                                                "default).")] = False,
    runs: Annotated[Path | None, typer.Option("--runs", help="Reports folder of `riskmodel run`: adds the "
                                                 "student's level, risk and reasons at every run.")] = None,
    config: ConfigOption = None,
) -> None:
    """Write one student's file, signed by this centre and readable only by the receiving one."""
    from riskmodel.handover.packet import export_packet
    from riskmodel.i18n import text

    settings = _settings(config)
    result = export_packet(data, student, key_dir=key, recipient=to, out=out, settings=settings,
                           include_notes=include_notes, runs=runs)
    manifest = result.manifest
    lang = settings.reports.lang
    console.print(text("handover.cli.exported", lang, out=out, recipient=_centre_name(to),
                       included=text("handover.cli.separator", lang).join(
                           text("handover.cli.rows", lang, table=_table_words(k, lang), n=v)
                           for k, v in manifest["included"].items()),
                       withheld=text("handover.cli.separator", lang).join(
                           _table_words(w["what"], lang) for w in manifest["withheld"])),
                  highlight=False, soft_wrap=True)


def _centre_name(public: Path) -> str:
    """The centre a ``centre.pub`` belongs to, as its ``keys init --name`` called it, with its fingerprint."""
    from riskmodel.handover.keys import load_public

    key = load_public(public)
    return f"{key.name} ({key.fingerprint[:16]})" if key.name else key.fingerprint[:16]


def _table_words(what: str, lang: str) -> str:
    """``observations`` or ``observations.note`` in the catalogue's words (a column stays its code)."""
    from riskmodel.i18n import catalogue, text

    table, _, column = what.partition(".")
    key = f"reports.table.{table}"
    words = text(key, lang) if key in catalogue() else table
    return f"{words} ({column})" if column else words


@_group_verb(handover_app, "import")
def handover_import(
    packet: Annotated[Path, typer.Argument(help="The packet file received.")],
    data: DataOption,
    key: Annotated[Path, typer.Option("--key", help="This centre's key folder (riskmodel keys init).")],
    sender: Annotated[Path, typer.Option("--from", help="The sending centre's centre.pub.")],
    as_id: Annotated[str, typer.Option("--as", help="The student's ID at this school; already in students.")],
    config: ConfigOption = None,
) -> None:
    """Verify a packet and add its records to this centre's data folder (the next run sees them)."""
    from riskmodel.handover.packet import import_packet
    from riskmodel.i18n import text

    settings = _settings(config)
    result = import_packet(packet, data=data, key_dir=key, sender=sender, student_id=as_id, settings=settings)
    console.print(text("handover.cli.imported", settings.reports.lang, packet=result.packet_id, sender=_centre_name(sender),
                       written=", ".join(p.name for p in result.files)), highlight=False, soft_wrap=True)


def main() -> None:  # pragma: no cover - console-script entry point
    app()
