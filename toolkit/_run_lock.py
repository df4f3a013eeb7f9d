"""`RunLock`: one process at a time trains a run directory.

On a local disk (NFS included) the lock file is created with
`O_CREAT | O_EXCL`, which the kernel makes atomic. A URL (`gs://`, `s3://`)
has no exclusive create through `tf.io.gfile`, so there the lock is claimed
by writing it with a unique token, waiting `SETTLE_S` and reading it back:
the process whose token is read back holds the run, the other is refused.
That is weaker: two processes that both look, find no lock, and write more
than `SETTLE_S` apart from each other's look can both believe they hold it.
It stops the usual mistake (a second `ktb train --resume` of a run being
trained, started seconds or hours later), not two started in the same
instant.
"""

import datetime
import json
import os
import socket
import time
import uuid

from . import _remote
from .errors import RunLockedError

LOCK_FILE = "train.lock"
# A lock file is written the instant it is created; one still naming no
# holder after this many seconds was left by a process killed in between.
UNWRITTEN_LOCK_S = 10
# On a URL, how long a writer waits before reading its lock back: longer
# than the gap between another process's look and its write.
SETTLE_S = 1.0


class RunLock:
    """Holds a run directory for one process while it trains it.

    The lock is the file `LOCK_FILE` in the run directory, created with
    `O_CREAT | O_EXCL` (atomic, on NFS too) and holding the holder's pid,
    host and start time, so a second process can name who holds it. A lock
    whose pid is not alive on this host was left by a killed process and is
    taken over; one held on another host cannot be checked from here and is
    refused, saying so. `release()` (or leaving the `with` block) deletes the
    file if it is still this lock's.

    In a run directory given as a URL the lock is written, then read back
    after `SETTLE_S` seconds to confirm its token: the weaker guarantee of
    the module docstring, since such file systems have no exclusive create.

    Args:
        run_dir: the run directory to lock; it must exist.

    Raises:
        RunLockedError: from `acquire()`, when another process holds the run.

    Example:

        with RunLock(run_dir):
            ...  # train into run_dir
    """

    def __init__(self, run_dir):
        self.path = os.path.join(os.fspath(run_dir), LOCK_FILE)
        self.token = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()

    def acquire(self):
        """Takes the lock, or raises `RunLockedError` naming its holder."""
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "token": uuid.uuid4().hex,
        }
        if _remote.is_url(self.path):
            return self._acquire_by_token(holder)
        # Each pass either creates the file or finds a holder; a stale holder
        # is moved aside and the file created afresh on the next pass. Three
        # passes cover two processes taking over one stale lock at once.
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                found = read_lock(self.path)
                if found is None and not _unwritten_for(self.path, UNWRITTEN_LOCK_S):
                    raise RunLockedError(
                        f"--run-name: {os.path.dirname(self.path)} is being locked by "
                        f"another process right now ({self.path} names no holder "
                        "yet); try again in a few seconds"
                    )
                if found is not None and not is_stale(found):
                    raise RunLockedError(held_message(self.path, found))
                self._move_aside_if_unchanged(found)
                continue
            try:
                with os.fdopen(fd, "w") as handle:
                    json.dump(holder, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
            except BaseException:
                # A full disk: leave no lock naming no one for the next run.
                os.remove(self.path)
                raise
            self.token = holder["token"]
            return self
        raise RunLockedError(
            f"--run-name: {os.path.dirname(self.path)}: other processes keep taking "
            f"its lock ({self.path}); is another ktb process resuming it?"
        )

    def _acquire_by_token(self, holder):
        """Takes the lock on a URL: write it, wait, read back our token.

        A lock found naming no holder is taken over: an object store shows
        an object only once it is whole, so it was never a lock.
        """
        found = read_lock(self.path)
        if found is not None and not is_stale(found):
            raise RunLockedError(held_message(self.path, found))
        _remote.write_object(self.path, json.dumps(holder))
        time.sleep(SETTLE_S)
        found = read_lock(self.path)
        if found is None or found.get("token") != holder["token"]:
            if found is not None:
                raise RunLockedError(held_message(self.path, found))
            raise RunLockedError(
                f"--run-name: {os.path.dirname(self.path)}: its lock {self.path} vanished "
                "as it was taken; is another ktb process resuming it?"
            )
        self.token = holder["token"]
        return self

    def _move_aside_if_unchanged(self, stale):
        """Deletes the stale lock `stale`, unless another process replaced it.

        Renaming is atomic, so of two processes taking over one stale lock
        only one moves it; the other finds no file, or the winner's fresh
        lock, which it puts back (`os.link` fails if a third process has
        created one meanwhile, and that one then holds the run).
        """
        aside = f"{self.path}.stale-{uuid.uuid4().hex}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            if read_lock(aside) != stale:
                try:
                    os.link(aside, self.path)
                except FileExistsError:
                    pass
        finally:
            os.remove(aside)

    def release(self):
        """Deletes the lock file if this lock still owns it; idempotent."""
        if self.token is None:
            return
        found = read_lock(self.path)
        if found is not None and found.get("token") == self.token:
            if _remote.is_url(self.path):
                _remote.remove(self.path)
            else:
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
        self.token = None


def read_lock(path):
    """The holder stored in lock file `path`, or None if absent or unreadable."""
    try:
        found = json.loads(_remote.read_bytes(path))
    except (OSError, ValueError):
        return None
    if not (isinstance(found, dict) and isinstance(found.get("pid"), int)
            and isinstance(found.get("host"), str)):
        return None
    return found


def _unwritten_for(path, seconds):
    """True if lock file `path` is gone or older than `seconds`."""
    try:
        modified = os.stat(path).st_mtime
    except FileNotFoundError:
        return True
    return datetime.datetime.now().timestamp() - modified > seconds


def is_stale(holder):
    """True if `holder` is a process of this host that no longer runs."""
    if holder["host"] != socket.gethostname():
        return False  # Another host's processes cannot be checked from here.
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # Alive, under another user.
    return False


def held_message(path, holder):
    """One line naming who holds lock `path`."""
    run_dir = os.path.dirname(path)
    since = holder.get("started", "an unknown time")
    if holder["host"] != socket.gethostname():
        return (
            f"--run-name: {run_dir} is locked by process {holder['pid']} on host "
            f"{holder['host']} since {since}; this host cannot tell whether it "
            f"still runs: if it does not, delete {path}"
        )
    return (
        f"--run-name: {run_dir} is being trained by process {holder['pid']} on "
        f"{holder['host']} since {since}; wait for it to end or stop it (a lock "
        "left by a killed process is taken over)"
    )


def check_unlocked(run_dir):
    """Fails if a live process holds `run_dir`; a check, not a lock.

    `ktb train --resume` asks this before TensorFlow loads, so a second
    resume answers at once; the lock itself is taken by `RunLock`.

    Returns:
        `run_dir`.

    Raises:
        RunLockedError: another process holds the run.
    """
    path = os.path.join(os.fspath(run_dir), LOCK_FILE)
    holder = read_lock(path)
    if holder is not None and not is_stale(holder):
        raise RunLockedError(held_message(path, holder))
    return run_dir

