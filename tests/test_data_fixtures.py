"""Small data directories for the riskmodel.data tests, built in code (no binary fixtures in git).

``mixed_directory`` writes the acceptance-test folder of issue 2: students as GB18030 CSV with Chinese
headers, screenings as UTF-8-with-BOM CSV (题1 ... headers), observations as XLSX with real date
cells, Excel serial numbers and 年月日 text, life events as Parquet; with exactly four planted bad rows
(PLANTED) and nothing else wrong.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd

STUDENTS_HEADER = ["学号", "姓名", "学校", "学院", "班级", "学段", "性别", "出生日期", "入学日期", "离校日期", "留守", "单亲"]
STUDENTS = [
    ["S001", "张三", "第一中学", "", "高一1班", "高中", "女", "2008-03-01", "2023-09-01", "", "是", "否"],
    ["S002", "李四", "第一中学", "", "高一1班", "senior", "男", "2008/05/02", "2023/09/01", "", "否", "0"],
    ["S003", "王五", "第一中学", "", "高一2班", "senior", "F", "2008.07.03", "2023.09.01", "", "1", "Y"],
    ["S004", "赵六", "第一中学", "", "高一2班", "senior", "未知", "2008年8月4日", "2023年9月1日", "2026-07-01", "N", ""],
    ["S005", "钱七", "第一中学", "", "高一2班", "senior", "M", "", "2023-09-01", "", "", ""],
    ["S003", "王五", "第一中学", "", "高一2班", "senior", "F", "2008.07.03", "2023.09.01", "", "1", "Y"],  # duplicate
]
SCREENINGS_HEADER = ["学号", "测评日期", "量表", *[f"题{k}" for k in range(1, 10)]]
SCREENINGS = [
    ["S001", "2023-10-10", "PHQ-9", *"012301230"],
    ["S002", "2023/10/10", "PHQ9", *"000000000"],
    ["S003", "2023.10.10", "GAD7", *"1111111", "", ""],
    ["S004", "2023年10月10日", "GAD-7", *"3333333", "", ""],
    ["S005", "45209", "PHQ9", "0", "1", "4", *"000000"],  # item 3 = 4: out of range (45209 = 2023-10-10)
    ["S999", "2023-10-10", "PHQ9", *"000000000"],  # unknown student
]
OBSERVATIONS_HEADER = ["学号", "观察日期", "来源", "类别", "严重程度", "备注"]
OBSERVATIONS = [
    ["S001", dt.datetime(2023, 11, 1), "班主任", "mood", 2, "情绪低落"],
    ["S002", 45231, "peer", "睡眠", 1, ""],  # Excel serial number: 2023-11-01
    ["S003", "2023年11月2日", "counsellor", "social", 1, None],
    ["S004", "2024-02-30", "counsellor", "social", 3, None],  # impossible date
]
LIFE_EVENTS = pd.DataFrame({
    "student_id": ["S001", "S005"],
    "date": pd.to_datetime(["2023-12-01", "2024-01-05"]),
    "event": ["breakup", "exam_failure"],
})
PLANTED = {  # (table, row, column) -> what the reason is about
    ("students", 7, "student_id"): "duplicate",
    ("screenings", 6, "item_3"): "out of range",
    ("screenings", 7, "student_id"): "unknown student",
    ("observations", 5, "date"): "impossible date",
}


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str) -> Path:
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def mixed_directory(folder: Path) -> Path:
    """The issue's acceptance folder (see the module docstring); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "students.csv", STUDENTS_HEADER, STUDENTS, "gb18030")
    write_csv(folder / "screenings.csv", SCREENINGS_HEADER, SCREENINGS, "utf-8-sig")
    write_xlsx(folder / "observations.xlsx", OBSERVATIONS_HEADER, OBSERVATIONS)
    LIFE_EVENTS.to_parquet(folder / "life_events.parquet")
    (folder / "_truth").mkdir()
    (folder / "_truth" / "latent.csv").write_text("secret\n")
    (folder / "README.txt").write_text("exported 2024-03-01\n")
    return folder
