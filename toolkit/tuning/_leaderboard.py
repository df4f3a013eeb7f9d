"""The leaderboard of a search: every trial, best first, as rows and as text.

The HParams dashboard compares trials but does not rank them, and a failed
trial's reason sits in its own run. After a search, the chief (or the
single process) ranks the oracle's trials once (`leaderboard_rows`), writes
them as a Markdown table to TensorBoard's text dashboard
(`write_leaderboard`, tag `leaderboard`) and prints them on the terminal
(`leaderboard_text`).

The tuners of `toolkit.tuning` call them after the search;
`leaderboard_text` is public for the command line.
"""

import dataclasses

import tensorflow as tf
from keras_tuner.engine.trial import TrialStatus

from ._hparams import failure_reason, session_hparams

_COMPLETED = TrialStatus.COMPLETED


@dataclasses.dataclass(frozen=True)
class LeaderboardRow:
    rank: int | None
    trial_id: str
    status: str
    score: float | None
    hyperparameters: dict
    reason: str

    @property
    def run(self):
        """The trial's run directory, relative to the search directory.

        It is the run's name in TensorBoard's run selector too.
        """
        return f"trial_{self.trial_id}"


def leaderboard_rows(oracle):
    """Every trial of `oracle`, best first: completed by score, then the others."""
    maximize = oracle.objective.direction == "max"
    trials = list(oracle.trials.values())
    done = [t for t in trials if t.status == _COMPLETED and t.score is not None]
    done.sort(key=lambda t: t.score, reverse=maximize)
    rest = sorted((t for t in trials if t not in done), key=lambda t: t.trial_id)
    return [
        LeaderboardRow(
            rank=i + 1 if t in done else None,
            trial_id=t.trial_id,
            status=t.status,
            score=t.score if t in done else None,
            hyperparameters=session_hparams(t.hyperparameters.values),
            reason=failure_reason(t.message) if t not in done else "",
        )
        for i, t in enumerate(done + rest)
    ]


def write_leaderboard(directory, rows, objective, top=10):
    """Writes the `top` rows as the `leaderboard` text summary in `directory`.

    The step is the number of completed trials, so the leaderboard of a
    resumed search shows as a later step than the one before.
    """
    writer = tf.summary.create_file_writer(directory)
    with writer.as_default():
        tf.summary.text(
            "leaderboard",
            leaderboard_markdown(rows[:top], objective),
            step=sum(row.status == _COMPLETED for row in rows),
        )
    writer.close()


def leaderboard_markdown(rows, objective):
    """A Markdown table of `rows` for TensorBoard's text dashboard."""
    lines = [
        f"| rank | trial | run | {objective} | status | hyperparameters |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.rank or '-'} | {row.trial_id} | `{row.run}/` | {_score(row.score)} | "
            f"{row.status}{': ' + row.reason if row.reason else ''} | "
            f"{_values(row.hyperparameters)} |"
        )
    return "\n".join(lines)


def leaderboard_text(rows, objective):
    """The leaderboard as plain text for the terminal.

    The run column is each trial's directory below the search directory.
    """
    width = max([len("run")] + [len(row.run) + 1 for row in rows])
    lines = [f"{'rank':>4}  {'trial':>5}  {'run':<{width}}  {objective:>12}  {'status':<9}  "
             "hyperparameters"]
    for row in rows:
        detail = row.reason if row.reason else _values(row.hyperparameters)
        lines.append(
            f"{row.rank or '-':>4}  {row.trial_id:>5}  {row.run + '/':<{width}}  "
            f"{_score(row.score):>12}  "
            f"{row.status:<9}  {detail}"
        )
    return "\n".join(lines)


def _score(score):
    return "-" if score is None else f"{score:.4f}"


def _values(values):
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
