"""Progress of `ktb demo`: a line per stage, an item per epoch, the time left.

Apart from `demo.py` because `EpochCounter` is a Keras callback: `demo.py`
stays free of TensorFlow, so `ktb demo` checks its log directory before
TensorFlow loads.
"""

import sys
import time

import keras


class Progress:
    """Writes where the demo stands: one line per stage, updated per epoch.

    A stage starts with a line `[i/n] <what> ...`; each epoch it finishes is
    an item, `[i/n] <stage>: epoch e/E, <elapsed> s, about <left> s left`,
    where the time left is the demo's mean epoch time so far times the
    epochs still to train (the first epoch, which also builds and traces,
    makes the first estimate high). On a terminal the items overwrite one
    another on the stage's line; elsewhere (a pipe, a CI log) every item is
    a line of its own, so a log reads from top to bottom.

    Args:
        total_epochs: epochs of the whole demo.
        stream: where to write. Defaults to `None`: `sys.stdout`.
        live: overwrite items in place. Defaults to `None`: whether `stream`
            is a terminal.

    Example:

    ```python
    import io
    from keras_tb_toolkit.toolkit._demo_progress import Progress

    out = io.StringIO()
    progress = Progress(total_epochs=2, stream=out)
    progress.stage("[1/1] training sequential for 2 epochs ...")
    progress.epoch_done("[1/1] sequential", 1, 2)
    progress.epoch_done("[1/1] sequential", 2, 2)
    progress.line("      sequential: test accuracy 0.9000")
    print(out.getvalue())
    ```
    """

    def __init__(self, total_epochs, stream=None, live=None):
        self.total_epochs = total_epochs
        self.stream = sys.stdout if stream is None else stream
        self.live = self.stream.isatty() if live is None else live
        self.start = time.perf_counter()
        self.epochs_done = 0
        self._open_item = False

    def elapsed(self):
        """Seconds since the demo started."""
        return time.perf_counter() - self.start

    def seconds_left(self):
        """The estimate of the time left, or None before the first epoch."""
        if not self.epochs_done:
            return None
        per_epoch = self.elapsed() / self.epochs_done
        return per_epoch * max(self.total_epochs - self.epochs_done, 0)

    def stage(self, text):
        """Starts a stage with a line of its own."""
        self.line(text)

    def epoch_done(self, stage, epoch, epochs):
        """Counts one finished epoch (`epoch` of `epochs`) of `stage`."""
        self.epochs_done += 1
        left = self.seconds_left()
        self.item(f"{stage}: epoch {epoch}/{epochs}, {self.elapsed():.0f} s, "
                  f"about {left:.0f} s left")

    def item(self, text):
        """Reports an item: in place on a terminal, else a line."""
        if self.live:
            # Carriage return and erase-to-end-of-line: a shorter item
            # leaves nothing of the longer one before it.
            self.stream.write(f"\r\033[K{text}")
            self._open_item = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def line(self, text):
        """Writes a line that stays, ending an item shown in place."""
        if self._open_item:
            self.stream.write("\n")
            self._open_item = False
        self.stream.write(text + "\n")
        self.stream.flush()


class EpochCounter(keras.callbacks.Callback):
    """Tells `progress` of each epoch that `fit()` finishes.

    KerasTuner deep-copies the user's callbacks for every trial; a copy of
    this one is itself, so every trial reports to the one `Progress`.

    Args:
        progress: the demo's `Progress`.
        stage: the stage's label in the item lines.
        epochs: epochs per `fit()`.
        fits: how many `fit()` calls the stage makes (the trials of a
            search), numbered in the item lines when more than one.
            Defaults to `1`.
    """

    def __init__(self, progress, stage, epochs, fits=1):
        super().__init__()
        self.progress, self.stage, self.epochs, self.fits = progress, stage, epochs, fits
        self._fit = 0
        self._epochs_seen = 0

    def __deepcopy__(self, memo):
        return self

    def on_train_begin(self, logs=None):
        self._fit += 1
        self._epochs_seen = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_seen += 1
        stage = self.stage if self.fits == 1 else (
            f"{self.stage}: trial {self._fit}/{self.fits}")
        self.progress.epoch_done(stage, epoch + 1, self.epochs)

    def on_train_end(self, logs=None):
        # A trial that stopped early (a model that failed to build trains
        # no epoch) leaves no epochs behind for the estimate to wait for.
        self.progress.epochs_done += max(self.epochs - self._epochs_seen, 0)
