"""Issue 17: report kernels start robustly (papermill #511, #473, #478).

Real kernels on a two-cell notebook: they talk over IPC sockets in a private folder (no TCP port to
race for), papermill never changes this process's working directory (it would, for every thread of a
Dask worker), each notebook runs in its own folder even in a reused kernel, and a reused kernel is
replaced after ``max_notebooks`` notebooks.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import nbformat
import pytest

from riskmodel.reports.notebooks import KernelSession, _socket_folder, execute


@pytest.fixture()
def probe(tmp_path) -> Path:
    """A notebook that records the kernel's working directory, process and connection transport."""
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('out: str = "probe.json"  # where to write what the kernel saw')
    params.metadata["tags"] = ["parameters"]
    book.cells = [params, nbformat.v4.new_code_cell(
        "import json, os\n"
        "from ipykernel.connect import get_connection_info\n"
        "info = get_connection_info(unpack=True)\n"
        "json.dump({'cwd': os.getcwd(), 'pid': os.getpid(), 'transport': info['transport'], 'ip': info['ip']},"
        " open(out, 'w'))")]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "probe.ipynb"
    nbformat.write(book, path)
    return path


def _seen(folder: Path) -> dict:
    return json.loads((folder / "probe.json").read_text())


def test_a_kernel_of_its_own_uses_ipc_and_leaves_the_working_directory_alone(probe, tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    before = os.getcwd()
    seen_in_thread = []
    # in a thread, as on a Dask worker: the process's directory must not move under the other threads
    thread = threading.Thread(target=lambda: seen_in_thread.append(
        execute(probe, folder / "out.ipynb", None, {"out": "probe.json"}, timeout=120)))
    thread.start()
    while thread.is_alive():
        assert os.getcwd() == before
        thread.join(0.01)
    assert seen_in_thread[0]["status"] == "ok", seen_in_thread[0]["error"]
    seen = _seen(folder)
    assert seen["cwd"] == str(folder), "the kernel runs in the notebook's folder"
    assert seen["transport"] == "ipc", "no TCP port on localhost"
    assert os.getcwd() == before


def test_a_reused_kernel_moves_to_each_notebooks_folder_and_is_replaced_after_max_notebooks(probe, tmp_path):
    folders = [tmp_path / name for name in ("one", "two", "three")]
    with KernelSession(max_notebooks=2) as session:
        sockets = Path(session._folder)
        assert stat.S_IMODE(sockets.stat().st_mode) == 0o700, "sockets and connection file: owner only"
        for folder in folders:
            folder.mkdir()
            outcome = execute(probe, folder / "out.ipynb", None, {"out": "probe.json"}, timeout=120, session=session)
            assert outcome["status"] == "ok", outcome["error"]
        assert session.restarts == 1
    seen = [_seen(folder) for folder in folders]
    assert [s["cwd"] for s in seen] == [str(f) for f in folders]
    assert seen[0]["pid"] == seen[1]["pid"] != seen[2]["pid"], "two notebooks per kernel, then a new kernel"
    assert all(s["ip"].startswith(str(sockets)) for s in seen)
    assert not sockets.exists(), "the session removes its sockets' folder"


def test_a_socket_folder_too_deep_for_a_unix_socket_goes_to_tmp(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    folder = _socket_folder(str(deep))
    try:
        assert folder.startswith("/tmp/") and len(folder) < 100
        assert not any(deep.iterdir())
    finally:
        os.rmdir(folder)
