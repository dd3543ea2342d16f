"""Atomic writes: short temporary names whatever the destination's, errors that name the destination, leftovers of
killed writes removed for the files a run writes only."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from ecg12.files import atomic_path, atomic_write_text, remove_temporaries, temporary_key

LONG_NAME = "心電図記録" * 16 + "長"  # 81 characters, 243 bytes of UTF-8: with ".csv" 247, within the 255 allowed


def test_a_file_whose_name_the_file_system_holds_can_be_written_atomically(tmp_path: Path) -> None:
    destination = tmp_path / f"{LONG_NAME}.csv"
    with atomic_path(destination) as temporary:
        assert len(temporary.name.encode()) <= 30  # not derived by lengthening the destination's name
        temporary.write_text("written")
    assert destination.read_text() == "written"
    assert sorted(p.name for p in tmp_path.iterdir()) == [destination.name]


def test_a_name_too_long_for_the_file_system_is_an_error_naming_the_destination(tmp_path: Path) -> None:
    destination = tmp_path / ("x" * 252 + ".csv")  # 256 bytes: one more than ext4 and tmpfs hold
    with pytest.raises(OSError) as refused:
        atomic_write_text(destination, "text")
    assert refused.value.errno == errno.ENAMETOOLONG
    assert refused.value.filename == str(destination) and refused.value.filename2 is None
    assert str(destination) in str(refused.value) and ".tmp" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_an_error_about_another_file_keeps_its_name(tmp_path: Path) -> None:
    blocking = tmp_path / "a_file"
    blocking.write_text("")
    with pytest.raises(OSError) as refused:
        atomic_write_text(blocking / "scores.csv", "text")  # its folder would be a file
    assert refused.value.filename == str(blocking)


def test_a_failed_write_into_the_temporary_file_names_the_destination(tmp_path: Path) -> None:
    destination = tmp_path / "scores.csv"
    with pytest.raises(OSError) as failed, atomic_path(destination):
        raise OSError(errno.ENOSPC, "No space left on device")  # what a write on a full disk raises
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(destination)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_killed_writes_are_removed_for_the_files_written_only(tmp_path: Path) -> None:
    ours = [f".{temporary_key(LONG_NAME + '.csv')}.k1ll3d.tmp", ".errors.csv.k1ll3d.tmp"]  # this and earlier versions
    others = [f".{temporary_key('other.csv')}.k1ll3d.tmp", ".other.csv.k1ll3d.tmp", "notes.tmp", ".hidden"]
    for name in ours + others:
        (tmp_path / name).write_text("half a file")
    remove_temporaries(tmp_path, [f"{LONG_NAME}.csv", "errors.csv"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
