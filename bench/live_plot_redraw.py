"""What one LivePlot redraw costs the training loop, by length of history.

A redraw is what `LivePlot` does on the training thread at an epoch end or
a batch: draw the curves with `plot_history`, encode the PNG and hand it to
the notebook's display handle. The kernel is stood in for by patching
IPython from outside, with a display handle that only keeps the size of the
last image, so the figures are LivePlot's work alone. Each history holds
loss and accuracy with their validation twins (two panels, four curves).

    python bench/live_plot_redraw.py --rounds 30
"""

import argparse
import statistics
import time
import types

import IPython
import IPython.display
import numpy as np

from keras_tb_toolkit.callbacks import LivePlot


def fake_kernel():
    """Patches IPython so LivePlot believes it runs in a kernel; returns
    the sizes of the PNG images it displays or updates."""
    sizes = []
    handle = types.SimpleNamespace(update=lambda image: sizes.append(len(image.data)))

    def display(image, display_id=None):
        sizes.append(len(image.data))
        return handle

    shell = types.SimpleNamespace(kernel=object())
    IPython.get_ipython = lambda: shell
    IPython.display.display = display
    return sizes


def epoch_logs(epoch):
    decay = 1.0 / (epoch + 1)
    return {"loss": 2.3 * decay, "accuracy": 1 - 0.9 * decay,
            "val_loss": 2.5 * decay, "val_accuracy": 1 - decay}


def redraw_ms(epochs, rounds, **options):
    """Milliseconds of each of `rounds` batch redraws after `epochs` epochs."""
    live = LivePlot(batch_freq=1, min_interval_s=0, max_overhead=None, **options)
    live.params = {"epochs": epochs + 1, "steps": rounds}
    live.on_train_begin()
    # The history of `epochs` epochs, as on_epoch_end would have recorded it
    # (without paying for a redraw per epoch here).
    logs = [epoch_logs(epoch) for epoch in range(epochs)]
    live.history = {key: [entry[key] for entry in logs] for key in logs[0]}
    live.epoch = list(range(epochs))
    live.on_epoch_begin(epochs)
    times = []
    for batch in range(rounds):
        start = time.perf_counter()
        live.on_train_batch_end(batch, {"loss": 0.1, "accuracy": 0.95})
        times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30,
                        help="redraws timed per history length (default 30)")
    args = parser.parse_args()
    sizes = fake_kernel()
    redraw_ms(2, 3)  # Warm-up: matplotlib's font cache, TensorFlow's PNG op.
    print(f"LivePlot redraw, {args.rounds} rounds each (median, p90, PNG size)")
    for epochs in (10, 100, 1000):
        for options in ({}, {"dpi": 100}):
            del sizes[:]
            times = redraw_ms(epochs, args.rounds, **options)
            label = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults (dpi=72)"
            print(f"  {epochs:>4} epochs of history, {label:<18}: "
                  f"median {statistics.median(times):6.1f} ms, "
                  f"p90 {np.percentile(times, 90):6.1f} ms, "
                  f"{sizes[-1] / 1024:5.1f} KiB")


if __name__ == "__main__":
    main()
