"""One run at a time in an output folder.

Two runs writing into one ``output_folder`` (the same command launched
twice, a scheduler retrying a job that is still alive) corrupt each
other's checkpoints and logs. :func:`hold_run_lock` makes the second one
stop at once with one line naming the folder and the process that holds it.

The lock is ``output_folder/run.lock``, locked with ``flock`` by the main
process and holding its pid and host (for that message). The kernel
releases a ``flock`` whenever its process ends, even under ``kill -9``, so a
lock is never left held by a dead run: the next run takes the file over,
with a warning naming the run that left it. A run that ends normally
removes the file.
"""

import atexit
import errno
import os
import socket

from speechbrain.utils.distributed import ddp_broadcast, if_main_process
from speechbrain.utils.logger import get_logger

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

logger = get_logger(__name__)

LOCK_FILE = "run.lock"
# What flock raises on a file system without locks (some network mounts).
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)

# Locks this process holds: real path of the lock file -> open descriptor.
_held = {}


class RunFolderBusy(RuntimeError):
    """Another live run holds the output folder's lock."""


def hold_run_lock(output_folder):
    """Locks ``output_folder`` for this run, until the process ends.

    Only the main process takes the lock; under DDP the other ranks learn
    from it whether the run may go on, and all stop if it may not. Taking
    a lock this process already holds does nothing, so a script's ``main``
    can be called again in one process (as the tests do).

    Arguments
    ---------
    output_folder : str or os.PathLike
        The run's folder; created if missing.

    Returns
    -------
    str or None
        The lock file (None on the other DDP ranks).

    Raises
    ------
    RunFolderBusy
        If another live process holds the lock.

    Example
    -------
    >>> folder = getfixture("tmp_path") / "run"
    >>> os.path.basename(hold_run_lock(folder))
    'run.lock'
    >>> release_run_lock(folder)
    >>> os.path.exists(folder / "run.lock")
    False
    """
    path = None
    refusal = None
    if if_main_process():
        path = os.path.join(os.fspath(output_folder), LOCK_FILE)
        try:
            _acquire(path)
        except RunFolderBusy as error:
            refusal = str(error)
    refusal = ddp_broadcast(refusal)
    if refusal is not None:
        raise RunFolderBusy(refusal)
    return path


def release_run_lock(output_folder):
    """Releases this process's lock on ``output_folder`` and removes the
    lock file; does nothing if this process does not hold it.

    Arguments
    ---------
    output_folder : str or os.PathLike

    Example
    -------
    >>> release_run_lock(getfixture("tmp_path"))
    """
    path = os.path.join(os.fspath(output_folder), LOCK_FILE)
    _release(os.path.realpath(path))


def _acquire(path):
    """Takes the lock file ``path`` (see :func:`hold_run_lock`)."""
    if fcntl is None:
        _warn_unlocked(path, "this platform has no flock")
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    key = os.path.realpath(path)
    if key in _held:
        return
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise RunFolderBusy(
                f"{folder} is in use by another run ({holder}); wait for it "
                "to finish or give this run another output_folder"
            ) from None
        except OSError as error:
            os.close(descriptor)
            if error.errno not in NO_LOCKS:
                raise
            _warn_unlocked(path, f"its file system cannot lock ({error})")
            return
        # The holder may have removed the file between our open and flock:
        # then the lock we got is on a file no one else will look at.
        if _is_file_at(descriptor, path):
            break
        os.close(descriptor)
    previous = _read_holder(descriptor)
    if previous:
        logger.warning(
            f"{path}: taking over the lock of a run that ended without "
            f"releasing it ({previous})"
        )
    os.ftruncate(descriptor, 0)
    os.write(
        descriptor, f"pid {os.getpid()} on {socket.gethostname()}\n".encode()
    )
    os.fsync(descriptor)
    if not _held:
        atexit.register(_release_all)
    _held[key] = descriptor


def _warn_unlocked(path, reason):
    """Warns that the run goes on without a lock."""
    logger.warning(
        f"{path}: {reason}, so nothing stops a second run from writing into "
        "this output folder at the same time"
    )


def _read_holder(descriptor):
    """The ``pid N on HOST`` line of an open lock file ('' if empty)."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 1024).decode(errors="replace")
    return " ".join(text.split())


def _is_file_at(descriptor, path):
    """Whether ``path`` still names the open file ``descriptor``."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _release(key):
    """Removes the lock file ``key`` and unlocks it, if held."""
    descriptor = _held.pop(key, None)
    if descriptor is None:
        return
    # Removed while still locked, so a run waiting on this file sees that
    # it is gone (see _acquire) rather than taking an orphaned lock.
    try:
        os.remove(key)
    except FileNotFoundError:
        pass
    os.close(descriptor)


def _release_all():
    """Releases every lock this process holds (at exit)."""
    for key in list(_held):
        _release(key)
