"""Outputs appear atomically and are readable by their owner only."""

import os
import stat

import pytest

from riskmodel.outputs import atomic_dir, atomic_path, write_text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_are_owner_only_and_no_temporary_is_left(tmp_path):
    target = write_text(tmp_path / "list.csv", "as_of,level\n")
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


def test_a_failed_write_leaves_the_earlier_file_untouched(tmp_path):
    target = write_text(tmp_path / "list.csv", "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


def test_a_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "runs" / "2026-03-01"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as work:
            (work / "part.csv").write_text("x")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list((tmp_path / "runs").iterdir()) == []
    with atomic_dir(target) as work:
        (work / "part.csv").write_text("x")
    assert (target / "part.csv").read_text() == "x"
    assert mode(target) == 0o700


def test_an_earlier_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
