"""Time per save: our `Checkpoint` against Keras' `ModelCheckpoint`.

Both save the seeds' Sequential CNN (Conv2D(32) -> MaxPool -> Conv2D(64) ->
MaxPool -> Conv2D(64) -> Flatten -> Dense(64) -> Dense(10); 93,322
parameters, Adam with its slot variables built) as a full `.keras` model.
The callbacks' `on_epoch_end` is called directly with logs, so only the save
is timed, the two variants alternating in one process (order swapped every
round). For `Checkpoint` two times are taken: until `on_epoch_end` returns
(what the training loop waits for: the model serialised to a temporary file)
and until `wait()` returns (checksum, fsyncs, rename, manifest and pruning
done on its writer thread: the checkpoint is durable). `ModelCheckpoint`
writes without fsync. Then the time to resume: `Checkpoint.restore` (checksum
check + weights + optimizer) into a fresh compiled model, against
building the optimizer and `model.load_weights` of the `ModelCheckpoint`
file (what `BackupAndRestore` does). Medians; goal: Checkpoint <= 1.2x ModelCheckpoint per save.

Last, where the checkpoints go: `Checkpoint` saving (until durable) into a
local directory against TensorFlow's in-memory `ram://` file system (what
the tests use for a `gs://` log directory), alternated; the difference is
what going through `tf.io.gfile` costs over the local disk's own writes,
without a network.

Usage (from the repository root):

    python bench/checkpoint_save.py --rounds 20
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tb_toolkit.callbacks import Checkpoint  # noqa: E402

GOAL = 1.2


def seeds_cnn():
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def load_like_backup_and_restore(model, path):
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)


def save_until_durable(checkpoint, index, logs):
    start = time.perf_counter()
    checkpoint.on_epoch_end(index, logs)
    checkpoint.wait()
    return (time.perf_counter() - start) * 1e3


def file_system_times(model, root, rounds, warmup, rng):
    """Median ms per durable save into `root` (local) and into `ram://`."""
    import uuid

    directories = {"local": os.path.join(root, "local"),
                   "ram://": f"ram://checkpoint-bench-{uuid.uuid4().hex}/checkpoints"}
    checkpoints = {name: Checkpoint(path, save_top_k=3) for name, path in directories.items()}
    for checkpoint in checkpoints.values():
        checkpoint.set_model(model)
        checkpoint.on_train_begin()
    times = {name: [] for name in checkpoints}
    for index in range(warmup + rounds):
        logs = {"loss": 1.0, "val_loss": float(rng.random())}
        names = list(checkpoints) if index % 2 == 0 else list(reversed(checkpoints))
        for name in names:
            elapsed = save_until_durable(checkpoints[name], index, logs)
            if index >= warmup:
                times[name].append(elapsed)
    for checkpoint in checkpoints.values():
        checkpoint.on_train_end()
    return {name: statistics.median(values) for name, values in times.items()}


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--restores", type=int, default=10)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = seeds_cnn()
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    model.fit(x, rng.integers(0, 10, 64), batch_size=32, epochs=1, verbose=0)
    assert model.count_params() == 93_322, model.count_params()

    with tempfile.TemporaryDirectory() as root:
        keras_checkpoint = keras.callbacks.ModelCheckpoint(
            os.path.join(root, "keras", "model.keras")
        )
        ours = Checkpoint(os.path.join(root, "ours"), save_top_k=3)
        for callback in (keras_checkpoint, ours):
            callback.set_model(model)
            callback.on_train_begin()

        times = {"keras": [], "ours_return": [], "ours_durable": []}
        for index in range(args.warmup + args.rounds):
            logs = {"loss": 1.0, "val_loss": float(rng.random())}
            order = (0, 1) if index % 2 == 0 else (1, 0)
            for variant in order:
                if variant == 0:
                    elapsed = timed(keras_checkpoint.on_epoch_end, index, logs)
                    if index >= args.warmup:
                        times["keras"].append(elapsed)
                    continue
                start = time.perf_counter()
                ours.on_epoch_end(index, logs)
                returned = time.perf_counter()
                ours.wait()
                durable = time.perf_counter()
                if index >= args.warmup:
                    times["ours_return"].append((returned - start) * 1e3)
                    times["ours_durable"].append((durable - start) * 1e3)
        ours.on_train_end()

        keras_file = os.path.join(root, "keras", "model.keras")
        restores = {"ours": [], "keras": []}
        for _ in range(args.restores):
            fresh = seeds_cnn()
            restores["ours"].append(
                timed(Checkpoint(os.path.join(root, "ours")).restore, fresh)
            )
            restores["keras"].append(
                timed(load_like_backup_and_restore, seeds_cnn(), keras_file)
            )
        size = os.path.getsize(keras_file)
        by_file_system = file_system_times(model, root, args.rounds, args.warmup, rng)

    keras_ms = statistics.median(times["keras"])
    returned_ms = statistics.median(times["ours_return"])
    durable_ms = statistics.median(times["ours_durable"])
    print(f"seeds CNN, {model.count_params():,} parameters, .keras file of "
          f"{size / 1e6:.2f} MB; {args.rounds} rounds, medians; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print()
    print("| variant | ms per save | ratio to ModelCheckpoint |")
    print("|---|---|---|")
    print(f"| keras.callbacks.ModelCheckpoint (no fsync) | {keras_ms:.1f} | 1.00 |")
    verdict = "pass" if returned_ms <= GOAL * keras_ms else "FAIL"
    print(f"| Checkpoint, training loop blocked | {returned_ms:.1f} | "
          f"{returned_ms / keras_ms:.2f} (goal <= {GOAL}: {verdict}) |")
    print(f"| Checkpoint, until durable (fsync'ed, manifest) | {durable_ms:.1f} | "
          f"{durable_ms / keras_ms:.2f} |")
    print()
    print("| resume | ms |")
    print("|---|---|")
    print(f"| Checkpoint.restore (checksum + weights + optimizer) | "
          f"{statistics.median(restores['ours']):.1f} |")
    print(f"| optimizer.build + load_weights of the ModelCheckpoint file | "
          f"{statistics.median(restores['keras']):.1f} |")
    print()
    print("| Checkpoint into | ms per save, until durable | ratio to local |")
    print("|---|---|---|")
    for name, ms in by_file_system.items():
        print(f"| {name} | {ms:.1f} | {ms / by_file_system['local']:.2f} |")


if __name__ == "__main__":
    main()
