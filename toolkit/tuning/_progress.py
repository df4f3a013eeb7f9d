"""One line per finished trial: trial i of N, the best so far, the time left.

keras-tuner's own display redraws a table per trial that says nothing of
the time left and, in a log file, buries the trial's outcome. `Progress`
makes one plain line of each trial's end, the same on a terminal and in a
log. Trials finished before a resume count towards i; the time left is the
mean duration of the trials this process ran, times the trials still to run.
"""

import time

from keras_tuner.engine.trial import TrialStatus

_FINISHED = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID)


class Progress:
    """Times the trials of `oracle` and says where the search stands.

    Args:
        oracle: the search's keras-tuner oracle.
    """

    def __init__(self, oracle):
        self.oracle = oracle
        self._started = {}
        self._durations = []

    def begin(self, trial_id):
        self._started[trial_id] = time.monotonic()

    def end(self, trial):
        """The line for `trial`, which has just ended."""
        started = self._started.pop(trial.trial_id, None)
        if started is not None:
            self._durations.append(time.monotonic() - started)
        trials = self.oracle.trials.values()
        done = sum(t.status in _FINISHED for t in trials)
        total = self.oracle.max_trials or done
        objective = self.oracle.objective.name
        outcome = (f"{objective} {trial.score:.4f}"
                   if trial.status == TrialStatus.COMPLETED and trial.score is not None
                   else trial.status)
        best = [t for t in self.oracle.get_best_trials(1)
                if t.status == TrialStatus.COMPLETED and t.score is not None]
        best_text = (f"best {best[0].score:.4f} (trial {best[0].trial_id})"
                     if best else "best -")
        line = f"trial {done}/{total} (trial_{trial.trial_id}): {outcome} | {best_text}"
        if self._durations:
            mean = sum(self._durations) / len(self._durations)
            left = max(total - done, 0) * mean
            line += f" | {self._durations[-1]:.1f} s, about {format_duration(left)} left"
        return line


def format_duration(seconds):
    """`1h02m`, `3m05s` or `12s`."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
