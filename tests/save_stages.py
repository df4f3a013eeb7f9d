"""Stops a process at a chosen stage of a checkpoint save, from outside.

The library has no test hooks: a save is observed by wrapping `os.replace`,
through which every checkpoint save passes twice, once to put the
checkpoint file under its final name and once for `manifest.json`. Before
and after each of those renames lie the four stages a crash test needs:

- `checkpoint_written`: the temporary file is complete, not yet renamed;
- `checkpoint_replaced`: the checkpoint is in place, no manifest names it;
- `manifest_written`: the new manifest is in its temporary file;
- `manifest_replaced`: the new manifest is in place, pruned files remain.

In-process: `monkeypatch.setattr(os, "replace", watching_replace(check))`.
As a wrapper of another program, which it SIGKILLs at the `nth` time it
reaches `stage` (after printing `KILLED stage=<stage> path=<path>`):

    python tests/save_stages.py STAGE NTH script.py ARGS...
    python tests/save_stages.py STAGE NTH -m module ARGS...
"""

import os
import re
import runpy
import signal
import sys

STAGES = (
    "checkpoint_written",
    "checkpoint_replaced",
    "manifest_written",
    "manifest_replaced",
)
_CHECKPOINT = re.compile(r"epoch=\d+.*\.(keras|weights\.h5)")


def _stages(destination):
    """(before, after) stages of a rename to `destination`, or None."""
    name = os.path.basename(os.fspath(destination))
    if name == "manifest.json":
        return STAGES[2:]
    if _CHECKPOINT.fullmatch(name):
        return STAGES[:2]
    return None


def watching_replace(on_stage, replace=os.replace):
    """An `os.replace` that calls `on_stage(stage, final path)` around the
    renames of a checkpoint save."""

    def watched(source, destination, **kwargs):
        stages = _stages(destination)
        if stages:
            on_stage(stages[0], os.fspath(destination))
        replace(source, destination, **kwargs)
        if stages:
            on_stage(stages[1], os.fspath(destination))

    return watched


def kill_at(stage, nth):
    """SIGKILLs this process the `nth` time a save reaches `stage`."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, received: {stage!r}")
    reached = []

    def on_stage(current, path):
        if current != stage:
            return
        reached.append(path)
        if len(reached) == nth:
            line = f"KILLED stage={stage} path={path}\n"
            sys.stdout.write(line)
            sys.stdout.flush()
            sys.stderr.write(line)
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = watching_replace(on_stage)


def main(argv):
    stage, nth, *program = argv
    kill_at(stage, int(nth))
    if program[0] == "-m":
        sys.argv = [program[1], *program[2:]]
        runpy.run_module(program[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = program
        runpy.run_path(program[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
