"""Two processes into one output folder: the second stops at once."""

import errno
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest
from piq_recipe_factory import REPO, TRAIN_PIQ, tiny_args
from script_runner import error_lines, run_script

from speechbrain_piq import run_lock
from speechbrain_piq.run_lock import (
    LOCK_FILE,
    RunFolderBusy,
    hold_run_lock,
    release_run_lock,
)

HOLDER = """
import sys
from speechbrain_piq.run_lock import hold_run_lock
hold_run_lock(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def start_holder(folder):
    """Another process that holds ``folder``'s lock until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_second_process_is_refused_until_the_first_ends(tmp_path):
    folder = tmp_path / "run"
    holder = start_holder(folder)
    try:
        with pytest.raises(RunFolderBusy) as refused:
            hold_run_lock(folder)
        message = str(refused.value)
        assert str(folder) in message and f"pid {holder.pid}" in message
        holder.stdin.close()
        assert holder.wait() == 0
    finally:
        holder.kill()
        holder.wait()
    # It ended normally: the lock file is gone and the folder is free.
    assert not (folder / LOCK_FILE).exists()
    hold_run_lock(folder)
    release_run_lock(folder)


def test_lock_of_a_killed_run_is_taken_over_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "run"
    holder = start_holder(folder)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / LOCK_FILE).exists()
    with caplog.at_level(logging.WARNING):
        hold_run_lock(folder)
    try:
        assert f"pid {holder.pid}" in caplog.text
        assert f"pid {os.getpid()}" in (folder / LOCK_FILE).read_text()
        # The same process may take its own lock again (main called twice).
        hold_run_lock(folder)
    finally:
        release_run_lock(folder)


def test_train_piq_into_a_held_folder_is_one_line(tmp_path):
    folder = tmp_path / "run"
    hold_run_lock(folder)
    try:
        missing = {"embedding_model": "none.ckpt", "classifier": "none.ckpt"}
        result = run_script(TRAIN_PIQ, *tiny_args(tmp_path, missing, "run"))
    finally:
        release_run_lock(folder)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"train_piq.py: error: {folder} is in use by another run (pid "
        f"{os.getpid()} on {socket.gethostname()}); wait for it to finish or "
        "give this run another output_folder"
    ]


def test_file_system_without_locks_warns_and_goes_on(
    tmp_path, caplog, monkeypatch
):
    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_lock.fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING):
        hold_run_lock(tmp_path / "run")
    assert "cannot lock" in caplog.text
    assert "nothing stops a second run" in caplog.text
