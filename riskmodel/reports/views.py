"""Tables and headings for the notebooks, in the report language, with every data name escaped.

Each function takes the :class:`~riskmodel.reports.report_data.RunData` of a run and returns a
DataFrame (for tests and researchers) or a :class:`Table`/:class:`Heading` (what a notebook shows).
A :class:`Table` renders with ``DataFrame.to_html(escape=True)``, so a class named ``<script>``
shows as text. Aggregate counts below ``small_cell`` show as ``<n``, and the class and dorm tables add
complementary suppression (:func:`protect_levels`) so that no ``<n`` can be undone by subtraction.

Example
-------
>>> # run = open_run(run_folder)
>>> # level_counts(run, "college", cohort_id, "zh")
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from riskmodel.i18n import text
from riskmodel.reports.names import html_text
from riskmodel.reports.report_data import LEVELS, RunData
from riskmodel.warning.localise import percent, rule_words, word

__all__ = ["Heading", "Table", "ListTable", "BarTable", "show_text", "heading", "title", "level_counts", "group_summary",
           "factor_summary", "factor_section", "record_word", "table_name",
           "cohort_list", "student_records", "student_reasons", "data_summary", "rejected_summary",
           "skipped_notes", "note", "check_run", "history_note", "dorm_section", "pick_student",
           "student_title", "rejected_section", "skipped_section", "list_section", "Section", "group_section",
           "case_table", "interview_queue", "overdue_reviews", "case_section", "protect_levels", "listed_how"]


class Heading:
    """An HTML heading (or paragraph) whose text is escaped; shows in Jupyter and in the export."""

    def __init__(self, content: str, level: int = 2) -> None:
        self.content = content
        self.level = level

    def _repr_html_(self) -> str:
        tag = f"h{self.level}" if self.level else "p"
        return f"<{tag}>{html_text(self.content)}</{tag}>"

    def __repr__(self) -> str:
        return self.content


class Table:
    """A DataFrame shown as an escaped HTML table without its index."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def _repr_html_(self) -> str:
        # JupyterLab's export right-aligns every cell (`.jp-RenderedHTMLCommon td`): a column of reasons
        # or dates then floats far from its header. Text reads from the left, numbers stay right; the
        # rule is scoped to this table by a class named after its columns (the same data, the same page).
        numeric = [i for i, (_, col) in enumerate(self.frame.items(), start=1)
                   if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)]
        name = "rm-" + hashlib.sha1("\x1f".join(map(str, self.frame.columns)).encode()).hexdigest()[:8]
        lab = f".jp-RenderedHTMLCommon table.{name}"
        right = ",".join(f"{lab} td:nth-child({i}),{lab} th:nth-child({i})" for i in numeric)
        style = (f"<style>{lab} td,{lab} th{{text-align:left;vertical-align:top}}"
                 + (f"{right}{{text-align:right}}" if right else "") + "</style>")
        return style + self.frame.to_html(index=False, escape=True, na_rep="", border=0, classes=f"riskmodel {name}")

    def __repr__(self) -> str:  # the plain-text twin Jupyter stores beside the HTML: kept short
        if len(self.frame) <= 30:
            return self.frame.to_string(index=False)
        return f"{self.frame.head(30).to_string(index=False)}\n... ({len(self.frame)} rows)"


_BREAK = "\ue000"  # a line break inside a cell of a ListTable, on its way through pandas' HTML


class ListTable(Table):
    """The warning list as a table whose short columns (rank, pseudonym, class, college, level, risk) never
    wrap: a level or pseudonym broken over two lines is misread. Columns named in ``lines`` break only at
    their own line breaks (how a student was listed: the review's decision, then who and when; a browser
    otherwise broke the date at its hyphen). The style is scoped to this table."""

    def __init__(self, frame: pd.DataFrame, *, lines: tuple[str, ...] = ()) -> None:
        super().__init__(frame)
        self.lines = lines

    def _repr_html_(self) -> str:
        frame = self.frame.copy()
        # pandas writes a line break as the two characters \n: carried through the (escaping) export as a
        # private-use character, which no cell may hold (removed first), and made a <br> after it
        for name in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[name]):
                frame[name] = frame[name].astype("string").str.replace(_BREAK, "", regex=False)
        for name in self.lines:
            frame[name] = frame[name].astype("string").str.replace("\n", _BREAK, regex=False)
        page = frame.to_html(index=False, escape=True, na_rep="", border=0, classes="riskmodel riskmodel-list")
        page = page.replace(_BREAK, "<br>")
        # prefixed with JupyterLab's output class: its `:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td`
        # right-aligns every cell and outranks a plain `table.x td`
        lab = ".jp-RenderedHTMLCommon table.riskmodel-list"
        lines = "".join(f"{lab} td:nth-child({i}){{white-space:nowrap}}"
                        for i, name in enumerate(self.frame.columns, start=1) if name in self.lines)
        style = (f"<style>{lab} td,{lab} th{{text-align:left;vertical-align:top}}"
                 f"{lab} td:nth-child(-n+6),{lab} th{{white-space:nowrap}}"
                 f"{lab} td:first-child{{text-align:right}}{lines}</style>")
        return style + page


class BarTable(Table):
    """A :class:`Table` with one numeric column drawn as bars behind its numbers (pandas Styler).

    Cheaper than a figure (no image to draw, encode and embed) and the text stays text: long
    factor descriptions wrap, can be selected and read by a screen reader. Cell text is escaped;
    the id prefix is fixed so that the same data give the same page.
    """

    def __init__(self, frame: pd.DataFrame, column: str, *, colour: str = "#e6a09a", uuid: str = "bars") -> None:
        super().__init__(frame)
        self.column = column
        self.colour = colour
        self.uuid = uuid

    def _repr_html_(self) -> str:
        if self.frame.empty:
            return super()._repr_html_()
        styler = self.frame.style.set_uuid(self.uuid).hide(axis="index").format(precision=3, escape="html")
        top = float(pd.to_numeric(self.frame[self.column], errors="coerce").max())
        if top > 0:  # bars need a range: one row or all zero divided by zero inside pandas (RuntimeWarning)
            styler = styler.bar(subset=[self.column], color=self.colour, vmin=0, vmax=top, width=90)
        return styler.set_table_attributes('class="riskmodel"').to_html()


class Section:
    """Several displayable parts (headings, tables, raw links built here) shown one after another."""

    def __init__(self, *parts: object) -> None:
        self.parts = parts

    def _repr_html_(self) -> str:
        return "\n".join(p if isinstance(p, _Trusted) else p._repr_html_() for p in self.parts)

    def __repr__(self) -> str:
        return "\n".join(repr(p) for p in self.parts)


class _Trusted(str):
    """HTML built in this module from escaped parts (never raw text from the data)."""


def heading(key: str, lang: str, *, level: int = 2, **values: object) -> Heading:
    """The catalogue string ``key`` as a heading (``level=0``: a paragraph)."""
    return Heading(text(key, lang, **values), level)


def note(key: str, lang: str, **values: object) -> Heading:
    """The catalogue string ``key`` as a paragraph."""
    return Heading(text(key, lang, **values), 0)


class Prose:
    """Catalogue text written as Markdown (a notebook's explanations), shown as HTML in the report language."""

    def __init__(self, source: str) -> None:
        self.source = source

    def _repr_markdown_(self) -> str:  # JupyterLab and nbconvert render it (the catalogue's own text)
        return self.source

    def __repr__(self) -> str:
        return self.source


def show_text(key: str, lang: str, **values: object) -> Prose:
    """The notebook prose ``key`` of the catalogue (Markdown) in ``lang``: what a markdown cell said in one
    language, now in the report's."""
    return Prose(text(key, lang, **values))


def title(run: RunData, level: str, cohort_id: str, lang: str) -> Heading:
    """``<school> · <college>: crisis early-warning report, as of <date>`` (names escaped)."""
    row = run.cohort(level, cohort_id)
    name = row["name"] if level == "school" else f"{row['school']} · {row['name']}"
    return Heading(text("reports.cohort.heading", lang, name=name, title=text("reports.cohort.title", lang),
                        as_of=run.as_of.date().isoformat(), students=row["students"]), 1)


def _suppress(counts: pd.Series, small_cell: int) -> pd.Series:
    """Counts as text, ``<n`` for 1..n-1 (0 stays 0: an empty cell identifies no one)."""
    out = counts.astype("Int64").astype("string")
    return out.mask((counts > 0) & (counts < small_cell), f"<{small_cell}")


_PLAIN, _WIDENED, _HIDDEN = 0, 1, 2  # how far a level column of a class or dorm table is suppressed


def _pinned(values: np.ndarray, steps: list[int], n: int) -> np.ndarray:
    """Which hidden cells of a table the page pins to one value (True where a reader recovers it).

    ``values``: rows x (levels..., not listed); the last column (each row's students not on the list)
    is never printed. Every column's total and every row's total are printed (section 1, the students
    column), so the hidden cells form a table with known margins: a cell can take another value exactly
    when it lies on a cycle that alternately adds and takes one student along hidden cells, row, column,
    row, ..., each within the bounds its mark states (a flow's residual cycle). ``<n`` states 1..n-1 in
    a column that still prints zeros, 0..n-1 in one whose zeros read ``<n`` too; the hidden mark and
    the unprinted column state only 0 or more.
    """
    rows, cols = values.shape
    hide = np.zeros_like(values, dtype=bool)
    low = np.zeros_like(values)
    high = np.full(values.shape, np.inf)
    for c, step in enumerate(steps):
        v = values[:, c]
        if step == _PLAIN:
            hide[:, c] = (v > 0) & (v < n)
            low[:, c], high[:, c] = 1, n - 1
        elif step == _WIDENED:
            hide[:, c] = v < n
            high[:, c] = n - 1
        else:
            hide[:, c] = True
    hide[:, -1] = True
    down = hide & (values - 1 >= low)  # may give a student
    up = hide & (values + 1 <= high)  # may take one
    # edge k -> l through row b: column k gives one back at (b, k), row b takes it at (b, l)
    through = down[:, :, None] & up[:, None, :]
    edges_all = through.sum(axis=0)

    def closure(edges: np.ndarray) -> np.ndarray:  # column k reaches column l: a handful of columns
        reach = edges > 0
        np.fill_diagonal(reach, False)
        for _ in range(cols):
            reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
        return reach

    everywhere = closure(edges_all)
    pinned = np.zeros_like(hide)
    for a in np.flatnonzero(hide[:, :-1].any(axis=1)):
        alone = (edges_all > 0) & (edges_all - through[a] == 0)  # edges only row a makes
        # paths that leave row a aside: a simple cycle meets it once
        reach = closure(edges_all - through[a]) if alone.any() else everywhere
        for j in np.flatnonzero(hide[a, :-1]):
            others = np.arange(cols) != j
            more = up[a, j] and (reach[j, others] & down[a, others]).any()
            less = down[a, j] and (reach[others, j] & up[a, others]).any()
            pinned[a, j] = not (more or less)
    return pinned


def protect_levels(counts: pd.DataFrame, students: pd.Series, small_cell: int, *, hidden: str) -> pd.DataFrame:
    """Level counts of groups (one row a class or dorm, one column a level) as text, with primary and
    complementary suppression.

    The page prints each level's total for the cohort (section 1, and the list) and each row's
    students, so a hidden cell can be recovered by subtraction unless another table fits the page
    (:func:`_pinned`). The rule, column by column:

    1. a count of 1 to ``small_cell - 1`` shows as ``<n`` (0 shows as 0);
    2. while some hidden cell is pinned (three rooms ``<5`` and a level total of 3: each is 1), the
       column holding it goes one step further: first its zeros show as ``<n`` too (``<n`` then
       means 0 to n-1 and a room with one student at that level cannot be told from a room with
       none), then every cell of the column shows ``hidden``. A pinned cell in a column already
       hidden (rooms whose every student is listed) moves the other columns on instead.

    The rule is applied to the whole table: a page that shows only its first rows hides more, never
    less. A table of one row is the cohort itself (its counts are section 1's) and keeps step 1.
    ``attrs["widened"]`` and ``attrs["hidden"]`` list the columns of the two further steps.

    >>> counts = pd.DataFrame({"I": [1, 0, 1, 0], "II": [2, 1, 0, 6]})
    >>> out = protect_levels(counts, pd.Series([6, 6, 6, 9]), 5, hidden="x")
    >>> out["I"].tolist(), out["II"].tolist(), out.attrs["widened"]
    (['<5', '<5', '<5', '<5'], ['<5', '<5', '0', '6'], ['I'])
    """
    n = small_cell
    levels = list(counts.columns)
    values = counts.to_numpy(dtype=int)
    rest = students.to_numpy(dtype=int) - values.sum(axis=1)
    table = np.column_stack([values, rest])
    steps = [_PLAIN] * len(levels)
    # a table of one row is the cohort (or all of it that has a dorm): its counts are section 1's own
    while len(values) > 1:
        # a 0 or a count of n or more read off the page was never hidden by step 1: only 1..n-1 matter
        pinned = (_pinned(table, steps, n)[:, :-1] & (values > 0) & (values < n)).any(axis=0)
        if not pinned.any():
            break
        move = [c for c in np.flatnonzero(pinned) if steps[c] < _HIDDEN]
        move = move or [c for c in range(len(levels)) if steps[c] < _HIDDEN][:1]
        if not move:  # every column hidden and still pinned: one row, or the cohort itself
            break
        for c in move:
            steps[c] += 1
    out = pd.DataFrame(index=counts.index)
    for c, column in enumerate(levels):
        v = values[:, c]
        shown = v.astype(str).astype(object)
        if steps[c] == _PLAIN:
            shown[(v > 0) & (v < n)] = f"<{n}"
        elif steps[c] == _WIDENED:
            shown[v < n] = f"<{n}"
        else:
            shown[:] = hidden
        out[column] = shown
    out.attrs.update(widened=[lv for lv, s in zip(levels, steps) if s == _WIDENED],
                     hidden=[lv for lv, s in zip(levels, steps) if s == _HIDDEN])
    return out


def level_counts(run: RunData, level: str, cohort_id: str, lang: str) -> pd.DataFrame:
    """Students at each level now, at the previous run, and the change.

    Returns a frame with the localised columns level, count, previous, change (previous is empty
    when there is no earlier run).
    """
    now = run.members(run.warning_list, level, cohort_id)["level"].value_counts().reindex(LEVELS, fill_value=0)
    counts = run.level_counts(level, cohort_id)
    earlier = counts[counts.index < run.as_of]
    if earlier.empty:
        previous = pd.Series(pd.NA, index=list(LEVELS), dtype="Int64")
    else:
        previous = earlier.iloc[-1].reindex(LEVELS, fill_value=0).astype("Int64")
    return pd.DataFrame({
        text("reports.col.level", lang): [text(f"level.{lv}", lang) for lv in LEVELS],
        text("reports.col.count", lang): now.to_numpy(),
        text("reports.col.previous", lang): previous.to_numpy(),
        text("reports.col.change", lang): (now.astype("Int64") - previous).to_numpy(),
    })


def group_summary(run: RunData, level: str, cohort_id: str, lang: str, *, by: str = "class_id") -> pd.DataFrame:
    """One row per class (or ``by="dorm_id"``) of the cohort: students, listed per level, mean risk.

    Counts below the small-cell threshold show as ``<n``; rows sorted by mean risk, highest first.
    A class or dorm with fewer students than the threshold is not shown alone: the mean risk of a
    dorm room of three is nearly each one's own risk, and sorting by it points at that room. Such
    groups are pooled into one last row (how many groups, their students and listed counts, and
    their mean risk when they hold at least the threshold together); ``attrs["pooled"]`` says
    whether the table has that row.
    """
    members = run.members(run.warning_list, level, cohort_id)
    members = members[members[by] != ""]
    if members.empty:
        return pd.DataFrame()
    listed = pd.crosstab(members[by], members["level"]).reindex(columns=list(LEVELS[:3]), fill_value=0)
    stats = members.groupby(by).agg(students=("pseudonym", "size"), mean_score=("score", "mean"))
    table = stats.join(listed).sort_values("mean_score", ascending=False)
    kind = text(f"reports.level.{'dorm' if by == 'dorm_id' else 'class'}", lang)
    small = table["students"] < run.small_cell
    names = table.index[~small].astype(str).tolist()
    table = table[~small]
    if small.any():
        pooled = stats.loc[small[small].index]
        pooled_listed = listed.loc[pooled.index].sum()
        students = int(pooled["students"].sum())
        mean = float(members.loc[members[by].isin(pooled.index), "score"].mean())
        # a row added by label, not pd.concat: a pooled mean left empty (too few students) made concat
        # warn about all-NA columns inside 14 of 20 college reports of the demo
        row = {"students": students, "mean_score": mean if students >= run.small_cell else float("nan"),
               **{lv: int(pooled_listed[lv]) for lv in LEVELS[:3]}}
        table = table.reset_index(drop=True)
        table.loc[len(table)] = pd.Series(row).reindex(table.columns)
        names.append(text("reports.cohort.small_groups", lang, n=run.small_cell, count=int(small.sum()), kind=kind))
    out = pd.DataFrame({kind: names})
    out[text("reports.col.students", lang)] = _suppress(table["students"], run.small_cell).to_numpy()
    # computed on the whole table: a page that shows only its first rows hides more, never less
    cells = protect_levels(table[list(LEVELS[:3])], table["students"], run.small_cell,
                           hidden=text("reports.cohort.hidden_mark", lang))
    for lv in LEVELS[:3]:
        out[text(f"level.{lv}", lang)] = cells[lv].to_numpy()
    out[text("reports.col.mean_score", lang)] = table["mean_score"].map(percent).to_numpy()  # as the plots: percent
    out.attrs.update(pooled=bool(small.any()), widened=cells.attrs["widened"], hidden=cells.attrs["hidden"])
    return out


def factor_summary(run: RunData, level: str, cohort_id: str, lang: str, *, top: int = 10) -> pd.DataFrame:
    """The features that raise risk most in this cohort: mean contribution (log-odds) over its students.

    Columns ``feature`` (name), localised factor text (from the feature catalogue) and mean
    contribution; empty when the run holds no contributions.
    """
    factors = run.table("factors")
    if factors.empty:
        return pd.DataFrame()
    key = run.cohort(level, cohort_id)["key"]
    means = factors.loc[factors["key"] == key].set_index("feature")["mean"].sort_values(ascending=False).head(top)
    means = means[means > 0]
    return pd.DataFrame({"feature": means.index, text("reports.col.factor", lang): _feature_text(means.index, lang),
                         text("reports.col.contribution", lang): means.round(3).to_numpy()})


def factor_section(run: RunData, level: str, cohort_id: str, lang: str, *, top: int = 10) -> BarTable | Heading:
    """The :func:`factor_summary` table with its contributions as bars, or a note when the run has none."""
    factors = factor_summary(run, level, cohort_id, lang, top=top)
    if factors.empty:
        return note("reports.cohort.no_factors", lang)
    return BarTable(factors.drop(columns="feature"), text("reports.col.contribution", lang), uuid="factors")


def _feature_text(names: pd.Index, lang: str) -> list[str]:
    try:
        from riskmodel.features.catalogue import catalogue
        cat = catalogue()
    except Exception:  # noqa: BLE001 - a catalogue that cannot load must not cost the report
        return list(names)
    from riskmodel.warning.reasons import plain_windows

    return [plain_windows(str(cat.at[n, lang]), lang) if n in cat.index else n for n in names]


def cohort_list(run: RunData, level: str, cohort_id: str, lang: str) -> pd.DataFrame:
    """The cohort's listed students (levels I-III) by rank: pseudonym, never student_id or name."""
    members = run.members(run.warning_list, level, cohort_id)
    listed = members[members["level"] != "none"].sort_values(["rank", "score"], ascending=[True, False])
    changes = listed["change"].map(lambda c: text(f"change.{c}", lang) if f"change.{c}" in _change_keys() else c)
    out = pd.DataFrame({
        text("reports.col.rank_school", lang): listed["rank"].to_numpy(),
        text("reports.col.pseudonym", lang): listed["pseudonym"].to_numpy(),
        text("reports.col.class_id", lang): listed["class_id"].to_numpy(),
        text("reports.col.level", lang): [text(f"level.{lv}", lang) for lv in listed["level"]],
        text("reports.col.score", lang): listed["score"].map(percent).to_numpy(),
        text("reports.col.change", lang): changes.to_numpy(),
        text("reports.col.path", lang): listed_how(run, listed, lang),
        text("reports.col.rules", lang): listed["rules"].to_numpy(),
        text("reports.col.factors", lang): listed["factors"].to_numpy(),
    })
    if level == "school":
        out.insert(3, text("reports.col.college", lang), listed["college"].to_numpy())
    return out


def listed_how(run: RunData, listed: pd.DataFrame, lang: str) -> list[str]:
    """How each student of ``listed`` came to their level, in words (the list files' 列入途径 / How listed):
    a hard rule (awaiting interview), a review (its decision, who reviewed and when: 研判：住院（研判会，
    2024-11-25）) or the model's score.

    The list's own ``path`` code (``rule:<codes>``, ``review:<role>:<date>``, ``score``: set by
    riskmodel.warning.levels) says it; a run folder written before ``report_data`` kept it is read from
    the loop's state (``cases.parquet``) as levels sets it: a student awaiting interview, or with hard
    rules shown, is there by the rule; a student under review at the reviewed level by the review; every
    other listed student by score.
    """
    cases = run.table("cases")
    keep = ["state", "reviewed_level", "review_date", "reviewer_role", "review_status"]
    if cases.empty or not set(keep) <= set(cases.columns):
        cases = pd.DataFrame(columns=["pseudonym", *keep])
    cases = cases[["pseudonym", *keep]].drop_duplicates("pseudonym")
    paths = listed["path"] if "path" in listed.columns else pd.Series("", index=listed.index)
    state = listed[["pseudonym", "level", "rules"]].assign(path=paths.to_numpy()).merge(cases, on="pseudonym",
                                                                                        how="left")
    for column in ("level", "rules", "path", "state", "reviewed_level", "reviewer_role", "review_status"):
        state[column] = state[column].astype("string").fillna("").astype(str)
    words = []
    for row in state.itertuples(index=False):  # a cohort's listed students: a few hundred at most
        how = row.path.split(":", 1)[0]
        if not how:  # an older run folder: the route from the loop's state
            how = "rule" if row.state == "awaiting_interview" or row.rules else \
                "review" if row.state == "under_review" and row.reviewed_level == row.level else "score"
        words.append(_review_words(row, lang) if how == "review" else text(f"warning.value.path.{how}", lang))
    return words


def _review_words(row: object, lang: str) -> str:
    """研判：随访关注（辅导员，2024-11-01） / Review: Monitoring (counsellor, 2024-11-01), with a line break
    before the parenthesis (the page keeps it); a part the data lack, or a code without words (a role
    written ``unknown``), is left out, never shown as a code."""
    from riskmodel.i18n import catalogue as i18n_catalogue

    def known(column: str, code: object) -> str:
        key = f"warning.value.{column}.{code}"
        return text(key, lang) if code and key in i18n_catalogue() else ""

    out = text("warning.value.path.review", lang)
    status = known("review_status", row.review_status)
    if status:
        out = text("reports.list.path_status", lang, path=out, status=status)
    when = pd.to_datetime(row.review_date)
    detail = [part for part in (known("reviewer_role", row.reviewer_role),
                                "" if pd.isna(when) else f"{when:%Y-%m-%d}") if part]
    if detail:
        out = text("reports.list.path_detail", lang, path=out,
                   detail=text("reports.list.detail_separator", lang).join(detail))
    return out


def list_section(run: RunData, level: str, cohort_id: str, lang: str, *, rows: int = 200) -> Section:
    """The cohort's list (:func:`cohort_list`), its first ``rows`` ranks in the page when it is longer.

    The whole list is always in the cohort's list files (``lists/<key>/warning_list.xlsx`` and
    ``.csv``, which the index page links); a page of thousands of rows is slow to make and to read.
    With more listed students than ``rows``, a note says how many are shown and links the files
    (relative to ``reports/<key>.html`` and ``notebooks/<key>.ipynb``). ``rows=0`` shows every row.
    """
    from urllib.parse import quote

    table = cohort_list(run, level, cohort_id, lang)
    total = len(table)
    rank_note = note("reports.cohort.rank_note", lang)
    lines = (text("reports.col.path", lang),)
    if rows <= 0 or total <= rows:
        return Section(rank_note, ListTable(table, lines=lines))
    key = str(run.cohort(level, cohort_id)["key"])
    links = ", ".join(f'<a href="{html_text("../lists/" + quote(key) + "/warning_list." + ext)}">'
                      f"{html_text(text('reports.cohort.list_file.' + ext, lang))}</a>" for ext in ("xlsx", "csv"))
    shown = note("reports.cohort.list_top", lang, shown=rows, total=total)
    return Section(shown, _Trusted(f"<p>{links}</p>"), rank_note, ListTable(table.head(rows), lines=lines))


def _change_keys() -> frozenset[str]:
    from riskmodel.i18n import catalogue
    return frozenset(k for k in catalogue() if k.startswith("change."))


_STUDENT_COLUMNS = {
    "screenings": {"date": "date", "instrument": "instrument", "total": "total"},
    "observations": {"date": "date", "source": "source", "category": "category", "severity": "severity"},
    "life_events": {"date": "date", "event": "event"},
    "counselling": {"date": "date", "kind": "kind"},
}


_VOCAB = {"source": "source", "category": "category", "event": "event"}
_SEVERITY = {1: "watch", 2: "concern", 3: "urgent"}


def record_word(column: str, code: object, lang: str) -> str:
    """A record's code in words: an observation's source, category or severity, a life event, a counselling
    contact's kind, an instrument's short name (the feature catalogue's vocabulary and the catalogue)."""
    from riskmodel.i18n import catalogue as i18n_catalogue

    if code is None or (not isinstance(code, str) and pd.isna(code)):
        return ""
    if column == "severity":
        try:
            code = _SEVERITY[int(code)]
        except (KeyError, TypeError, ValueError):
            return str(code)
        column = "severity"
    if column == "instrument":
        key = f"warning.instrument.{code}"
        return text(key, lang) if key in i18n_catalogue() else str(code)
    if column == "kind":
        key = f"reports.counselling.{code}"
        return text(key, lang) if key in i18n_catalogue() else str(code)
    from riskmodel.features.catalogue import raw_catalogue

    words = raw_catalogue()["vocab"].get(_VOCAB.get(column, column), {}).get(str(code))
    return str(words[lang]) if words else str(code)


def student_records(run: RunData, pseudonym: str, table: str, lang: str) -> pd.DataFrame:
    """One student's rows of ``table`` (screenings, observations, life_events, counselling), by date.

    Observation notes never reach ``report_data``, so they cannot show here.
    """
    frame = run.table(table)
    if frame.empty:
        return pd.DataFrame()
    rows = frame[frame["pseudonym"] == pseudonym].sort_values("date")
    columns = {src: text(f"reports.col.{dst}", lang) for src, dst in _STUDENT_COLUMNS[table].items()
               if src in rows.columns}
    rows = rows[list(columns)].copy()
    for column in ("source", "category", "event", "severity", "kind", "instrument"):
        if column in rows.columns:
            rows[column] = rows[column].map(lambda code, c=column: record_word(c, code, lang))
    out = rows.rename(columns=columns)
    date_col = text("reports.col.date", lang)
    out[date_col] = pd.to_datetime(out[date_col]).dt.date
    return out.reset_index(drop=True)


def student_reasons(run: RunData, pseudonym: str, lang: str) -> pd.DataFrame:
    """One student's level, risk, hard rules and reasons at every run in the history."""
    rows = run.history[run.history["pseudonym"] == pseudonym].sort_values("as_of")
    return pd.DataFrame({
        text("reports.col.as_of", lang): rows["as_of"].dt.date.to_numpy(),
        text("reports.col.level", lang): [text(f"level.{lv}", lang) for lv in rows["level"]],
        text("reports.col.score", lang): rows["score"].map(percent).to_numpy(),
        text("reports.col.rules", lang): rows["rules"].to_numpy(),
        text("reports.col.factors", lang): rows["factors"].to_numpy(),
    })


def table_name(name: str, lang: str) -> str:
    """A data table's name in words (``life_events`` -> 生活事件); an unknown table keeps its name."""
    from riskmodel.i18n import catalogue

    key = f"reports.table.{name}"
    return text(key, lang) if key in catalogue() else str(name)


def data_summary(run: RunData, lang: str) -> pd.DataFrame:
    """What the loader read: rows read, accepted and rejected per table."""
    summary = run.table("summary")
    names = {"table": "table", "file": "file", "rows_read": "rows_read", "accepted": "accepted", "rejected": "rejected"}
    keep = [c for c in names if c in summary.columns]
    summary = summary[keep].copy()
    if "table" in summary.columns:
        summary["table"] = summary["table"].map(lambda name: table_name(name, lang))
    return summary.rename(columns={c: text(f"reports.col.{names[c]}", lang) for c in keep})


def rejected_summary(run: RunData, lang: str) -> pd.DataFrame:
    """Rejected rows counted by table, column and reason (the values themselves are not shown)."""
    counts = run.table("rejected")
    if counts.empty:
        return counts
    counts = counts.sort_values("rows", ascending=False)
    return pd.DataFrame({text("reports.col.table", lang): counts["table"].map(lambda n: table_name(n, lang)).to_numpy(),
                         text("reports.col.item", lang): counts["column"].to_numpy(),
                         text("reports.col.reason", lang): counts["reason"].to_numpy(),
                         text("reports.col.rejected", lang): counts["rows"].to_numpy()})


def skipped_notes(run: RunData) -> list[str]:
    """What the loader did not use and why (``skipped.json``)."""
    import json

    path = run.run_dir / "report_data" / "skipped.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def check_run(run: RunData, *, as_of: str, lang: str) -> None:
    """Refuse a language the catalogue lacks, or an ``as_of`` that is not the run's own date."""
    from riskmodel.i18n import LANGUAGES

    if lang not in LANGUAGES:
        raise ValueError(f"lang={lang!r}: the reports speak {list(LANGUAGES)}")
    if as_of and pd.Timestamp(as_of) != run.as_of:
        raise ValueError(f"as_of={as_of}: {run.run_dir.name} is the run of {run.as_of.date()}; pass that date or ''")


def history_note(run: RunData, level: str, cohort_id: str, lang: str) -> Heading:
    """A note when there is no earlier run yet (the trend then shows a single point), else nothing."""
    earlier = len(run.level_counts(level, cohort_id)) > 1
    return Heading("" if earlier else text("reports.cohort.no_history", lang), 0)


def group_section(run: RunData, level: str, cohort_id: str, lang: str, *, by: str = "class_id",
                  rows: int = 50) -> Section:
    """The classes (or ``by="dorm_id"``) side by side (:func:`group_summary`), the ``rows`` of highest
    mean risk when there are more, with a note saying how many of how many are shown.

    A school has hundreds of classes and dorms: the whole table made the school's page several
    hundred kilobytes (and its export slow) without helping the review. ``rows=0`` shows all.
    """
    summary = group_summary(run, level, cohort_id, lang, by=by)
    if summary.empty:
        return Section(note("reports.cohort.no_dorms", lang)) if by == "dorm_id" else Section(Table(summary))
    pooled = summary.attrs.get("pooled", False)
    alone = len(summary) - int(pooled)  # the groups shown one per row
    notes = _suppression_notes(summary, run.small_cell, lang)
    if rows <= 0 or alone <= rows:
        return Section(Table(summary), *notes)
    kind = text(f"reports.level.{'dorm' if by == 'dorm_id' else 'class'}", lang)
    shown = pd.concat([summary.head(rows), summary.tail(1)]) if pooled else summary.head(rows)
    return Section(note("reports.cohort.groups_top", lang, shown=rows, total=alone, kind=kind), Table(shown), *notes)


def _suppression_notes(summary: pd.DataFrame, small_cell: int, lang: str) -> list[Heading]:
    """What the reader of a table with complementary suppression needs: why zeros read ``<n`` in some
    columns, why a column is hidden (:func:`protect_levels`)."""
    def levels(codes: list[str]) -> str:
        return text("reports.cohort.level_separator", lang).join(text(f"level.{lv}", lang) for lv in codes)

    notes = []
    if summary.attrs.get("widened"):
        notes.append(note("reports.cohort.suppressed_widened", lang, n=small_cell, m=small_cell - 1,
                          levels=levels(summary.attrs["widened"])))
    if summary.attrs.get("hidden"):
        notes.append(note("reports.cohort.suppressed_hidden", lang, n=small_cell, levels=levels(summary.attrs["hidden"]),
                          mark=text("reports.cohort.hidden_mark", lang)))
    return notes


def dorm_section(run: RunData, level: str, cohort_id: str, lang: str, *, rows: int = 0) -> Section:
    """The dorms side by side, or a note saying the data holds no dorms (the section never vanishes)."""
    return group_section(run, level, cohort_id, lang, by="dorm_id", rows=rows)


def pick_student(run: RunData, pseudonym: str) -> str:
    """``pseudonym`` if the run scored it; ``""``: the top-ranked student (a first look in JupyterLab)."""
    if pseudonym == "":
        listed = run.warning_list.sort_values("rank")
        return str(listed["pseudonym"].iloc[0])
    if not (run.history["pseudonym"] == pseudonym).any():
        raise KeyError(f"{run.run_dir.name}: no student with this pseudonym in this run or earlier ones; copy it "
                       "from the warning list")
    return pseudonym


def student_title(run: RunData, pseudonym: str, lang: str) -> Heading:
    """``Student file: <pseudonym> (<college>, <class>), as of <date>`` (escaped)."""
    rows = run.history[run.history["pseudonym"] == pseudonym].sort_values("as_of")
    last = rows.iloc[-1]
    where = " · ".join(str(v) for v in (last["school"], last["college"], last["class_id"]) if v)
    return Heading(text("reports.student.heading", lang, title=text("reports.student.title", lang), pseudonym=pseudonym,
                        where=where, as_of=run.as_of.date().isoformat()), 1)


def rejected_section(run: RunData, lang: str) -> Table | Heading:
    """Rejected rows by table, column and reason, or a note that none was rejected."""
    summary = rejected_summary(run, lang)
    return Table(summary) if not summary.empty else note("reports.dq.no_rejected", lang)


def skipped_section(run: RunData, lang: str) -> Table | Heading:
    """What was not used and why, or a note that everything was used."""
    notes = skipped_notes(run)
    if not notes:
        return note("reports.dq.nothing_skipped", lang)
    return Table(pd.DataFrame({text("reports.col.reason", lang): notes}))


# ------------------------------------------------------------------------------- the review loop
def case_table(run: RunData, level: str, cohort_id: str) -> pd.DataFrame:
    """The cohort's students in a case (``report_data/cases.parquet``; empty for a run without it)."""
    cases = run.table("cases")
    if cases.empty:
        return cases
    return run.members(cases, level, cohort_id)


def _day(values: pd.Series) -> list[str]:
    return [f"{v:%Y-%m-%d}" if not pd.isna(v) else "" for v in pd.to_datetime(values)]


def _reviewed_level(part: pd.DataFrame, lang: str) -> list[str]:
    """The level the latest review set, in the list's words (无 for a review that set none); empty for a
    student never reviewed (not "not listed": nobody decided anything yet)."""
    reviewed = pd.to_datetime(part["review_date"]).notna().to_numpy()
    return [text(f"warning.value.reviewed_level.{lv}", lang) if seen and lv else ""
            for lv, seen in zip(part["reviewed_level"].astype(str), reviewed, strict=True)]


def interview_queue(run: RunData, level: str, cohort_id: str, lang: str) -> pd.DataFrame:
    """Students awaiting interview after a hard rule, most urgent first: overdue, then longest waiting
    (the oldest trigger), then highest risk. Pseudonyms only."""
    cases = case_table(run, level, cohort_id)
    if cases.empty:
        return pd.DataFrame()
    part = cases.loc[cases["state"] == "awaiting_interview"]
    part = part.assign(_o=~part["interview_overdue"].astype(bool), _w=-part["days_waiting"].astype(int),
                       _s=-part["score"].astype(float))
    part = part.sort_values(["_o", "_w", "_s", "pseudonym"], kind="mergesort")
    yes, no = text("reports.yes", lang), text("reports.no", lang)
    out = pd.DataFrame({
        text("reports.col.pseudonym", lang): part["pseudonym"].to_numpy(),
        text("reports.col.class_id", lang): part["class_id"].to_numpy(),
        text("reports.col.trigger_rules", lang): [rule_words(r, lang) for r in part["trigger_rules"]],
        text("reports.col.trigger_date", lang): _day(part["trigger_date"]),
        text("reports.col.days_waiting", lang): part["days_waiting"].astype(int).to_numpy(),
        text("reports.col.overdue", lang): [yes if o else no for o in part["interview_overdue"].astype(bool)],
        text("reports.col.score", lang): part["score"].astype(float).map(percent).to_numpy(),  # as the list
        text("reports.col.reviewed_level", lang): _reviewed_level(part, lang),
    })
    if level == "school":
        out.insert(1, text("reports.col.college", lang), part["college"].to_numpy())
    return out


def overdue_reviews(run: RunData, level: str, cohort_id: str, lang: str) -> pd.DataFrame:
    """Students under review whose next review date has passed, longest overdue first; the reviewed
    level beside the model's own."""
    cases = case_table(run, level, cohort_id)
    if cases.empty:
        return pd.DataFrame()
    part = cases.loc[(cases["state"] == "under_review") & cases["review_overdue"].astype(bool)]
    late = (run.as_of - pd.to_datetime(part["next_review"])).dt.days.fillna(0).astype(int)
    part = part.assign(_late=-late).sort_values(["_late", "pseudonym"], kind="mergesort")
    late = late.loc[part.index]
    roles = [word("reviewer_role", r, lang) for r in part["reviewer_role"]]
    out = pd.DataFrame({
        text("reports.col.pseudonym", lang): part["pseudonym"].to_numpy(),
        text("reports.col.class_id", lang): part["class_id"].to_numpy(),
        text("reports.col.reviewed_level", lang): _reviewed_level(part, lang),
        text("reports.col.level", lang): [text(f"level.{lv}", lang) for lv in part["level"]],
        text("reports.col.model_level", lang): [text(f"level.{lv}", lang) if lv in LEVELS else lv
                                                for lv in part["model_level"]],
        text("reports.col.review_date", lang): _day(part["review_date"]),
        text("reports.col.reviewer_role", lang): roles,
        text("reports.col.next_review", lang): _day(part["next_review"]),
        text("reports.col.days_overdue", lang): late.to_numpy(),
    })
    if level == "school":
        out.insert(1, text("reports.col.college", lang), part["college"].to_numpy())
    return out


def case_section(run: RunData, level: str, cohort_id: str, lang: str, *, rows: int = 100) -> Section | Heading:
    """The review loop of the cohort: counts by state, the interview queue and the overdue reviews
    (their first ``rows`` each; the whole of both is in the cohort's list files)."""
    cases = case_table(run, level, cohort_id)
    if cases.empty and "state" not in cases.columns:
        return note("reports.cohort.queue_empty", lang)
    state = cases["state"]
    counts = note("reports.cohort.case_counts", lang, awaiting=int((state == "awaiting_interview").sum()),
                  overdue=int(cases["interview_overdue"].astype(bool).sum()),
                  under=int((state == "under_review").sum()),
                  review_overdue=int(((state == "under_review") & cases["review_overdue"].astype(bool)).sum()),
                  released=int((state == "released").sum()))
    queue = interview_queue(run, level, cohort_id, lang)
    overdue = overdue_reviews(run, level, cohort_id, lang)
    parts: list[object] = [counts, heading("reports.cohort.queue", lang, level=3)]
    parts.append(Table(queue.head(rows)) if len(queue) else note("reports.cohort.queue_empty", lang))
    parts.append(heading("reports.cohort.overdue_reviews", lang, level=3))
    parts.append(Table(overdue.head(rows)) if len(overdue) else note("reports.cohort.overdue_empty", lang))
    return Section(*parts)
