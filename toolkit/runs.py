"""Run directories: `<logdir>/<experiment>/<run>/`, unique, never overwritten.

A run directory is locked while a process trains it (`RunLock`), so that two
`ktb train --resume` of one run cannot train the same epochs into it at once.
"""

import datetime
import json
import os
import re
import socket
import uuid

from .errors import ConfigError, LogDirError, RunLockedError

_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_run_name(name, argument="--run-name"):
    """Run names are one path component of letters, digits, '.', '_', '-'."""
    if name is not None and not _RUN_NAME.match(name):
        raise ConfigError(
            f"{argument}: {name!r} is not a valid name; use letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    return name


def check_writable(logdir, argument="--logdir"):
    """Fails unless `logdir` exists as a writable directory or can be created.

    Nothing is created: the check walks up to the nearest existing ancestor.
    """
    path = os.path.abspath(os.fspath(logdir))
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise LogDirError(
            f"{argument}: {logdir} cannot be created: {probe} is a file, "
            "not a directory"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise LogDirError(
            f"{argument}: {logdir} is not writable ({probe} denies writing)"
        )
    return path


def create_run_dir(logdir, experiment, run_name=None, prefix="run"):
    """Creates and returns a new, empty run directory.

    With `run_name`, an existing directory of that name is an error; without
    it, the name is `<prefix>-<start time>`, suffixed `-2`, `-3`... until it
    is new.
    """
    parent = os.path.join(os.fspath(logdir), experiment)
    try:
        os.makedirs(parent, exist_ok=True)
        if run_name is not None:
            path = os.path.join(parent, run_name)
            try:
                os.mkdir(path)
            except FileExistsError:
                raise ConfigError(
                    f"--run-name: {path} already exists; runs are never "
                    "overwritten: choose another name (or --resume it)"
                ) from None
            return path
        stamp = datetime.datetime.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")
        for attempt in range(1, 10_000):
            name = stamp if attempt == 1 else f"{stamp}-{attempt}"
            try:
                os.mkdir(os.path.join(parent, name))
            except FileExistsError:
                continue
            return os.path.join(parent, name)
    except OSError as error:
        raise LogDirError(
            f"--logdir: cannot create a run directory under {parent}: "
            f"{error.strerror or error}"
        ) from None
    raise LogDirError(f"--logdir: no free run name under {parent}")


def existing_run_dir(logdir, experiment, run_name):
    """The directory of a run to resume; it must exist."""
    path = os.path.join(os.fspath(logdir), experiment, run_name)
    if not os.path.isdir(path):
        raise ConfigError(
            f"--resume: no run {run_name!r} under "
            f"{os.path.join(os.fspath(logdir), experiment)} to resume"
        )
    return path


def check_logdir(logdir):
    """Fails unless `logdir` is an existing directory."""
    path = os.fspath(logdir)
    if not os.path.exists(path):
        raise LogDirError(f"LOGDIR: {path} does not exist")
    if not os.path.isdir(path):
        raise LogDirError(
            f"LOGDIR: {path} is a file, not a directory; pass the directory "
            "that holds the event files"
        )
    return path


LOCK_FILE = "train.lock"
# A lock file is written the instant it is created; one still naming no
# holder after this many seconds was left by a process killed in between.
UNWRITTEN_LOCK_S = 10


class RunLock:
    """Holds a run directory for one process while it trains it.

    The lock is the file `LOCK_FILE` in the run directory, created with
    `O_CREAT | O_EXCL` (atomic, on NFS too) and holding the holder's pid,
    host and start time, so a second process can name who holds it. A lock
    whose pid is not alive on this host was left by a killed process and is
    taken over; one held on another host cannot be checked from here and is
    refused, saying so. `release()` (or leaving the `with` block) deletes the
    file if it is still this lock's.

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
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        self.token = None


def read_lock(path):
    """The holder stored in lock file `path`, or None if absent or unreadable."""
    try:
        with open(path) as handle:
            found = json.load(handle)
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
