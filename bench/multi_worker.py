"""Training examples per second: two workers against one, on this machine.

Each round starts a one-worker and a two-worker `MultiWorkerMirroredStrategy`
cluster on 127.0.0.1 (the order swapped every round), each worker a fresh
process training the toolkit's Sequential CNN on the embedded MNIST subset
with `toolkit.distributed.DistributedLoop`, the loop `ktb train --strategy
multi-worker` uses, without callbacks. The first epoch (tracing, the
collectives' set-up) is not timed; the next `--epochs` are, on the chief,
and give global examples per second. The figure is the median over rounds
of two workers / one worker, with the same global batch.

On one machine both workers share its cores, so this measures what the
collectives cost (a gRPC all-reduce of every gradient, every step) against
what a second process on the same cores gains, not a speed-up across
machines. On this project's 2-core machine, shared with other jobs, the
second factor dominates and swings from round to round: two processes get
a larger share of the cores than one (measured at load average 6, 5
rounds: per-round ratios 1.24, 3.68, 3.44, 1.25, 1.33, median 1.33x). Read
it on an idle machine, or on two machines, each with its own cores, which
is where a second worker can pay off.

Usage (from the repository root):

    python bench/multi_worker.py --rounds 3
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker(args):
    """One worker: trains, then prints the timed examples per second (chief)."""
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    from keras_tb_toolkit.toolkit import data as data_lib
    from keras_tb_toolkit.toolkit import models
    from keras_tb_toolkit.toolkit.distributed import DistributedLoop

    keras.utils.set_random_seed(0)
    arrays = data_lib.load_arrays("mnist-mini")
    epochs = 1 + args.epochs
    pipelines = data_lib.load_data(arrays, batch_size=args.batch_size, epochs=epochs,
                                   limit=args.limit)
    with strategy.scope():
        model = models.build_model("sequential", arrays.input_shape, arrays.num_classes)

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.start = time.perf_counter()

    clock = Clock()
    DistributedLoop(model, strategy).fit(
        pipelines.train, None, epochs=epochs, steps_per_epoch=pipelines.steps_per_epoch,
        callbacks=[clock], verbose=0,
    )
    seconds = time.perf_counter() - clock.start
    examples = args.epochs * pipelines.steps_per_epoch * args.batch_size
    if strategy.extended.should_checkpoint:
        print(json.dumps({"examples_per_second": examples / seconds}))


def cluster(workers, args):
    """Runs a cluster of `workers` processes; returns the chief's examples/s."""
    ports = free_ports(workers)
    processes = []
    try:
        for index in range(workers):
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps({
                "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                "task": {"type": "worker", "index": index}})}
            processes.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--epochs", str(args.epochs),
                 "--batch-size", str(args.batch_size), "--limit", str(args.limit)],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                start_new_session=True,
            ))
        outputs = [p.communicate(timeout=600)[0] for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    if any(p.returncode for p in processes):
        raise SystemExit(f"a worker of the {workers}-worker cluster failed")
    return json.loads(outputs[0].strip().splitlines()[-1])["examples_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch")
    parser.add_argument("--limit", type=int, default=2048, help="training images")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    one, two = [], []
    for round_ in range(args.rounds):
        order = (1, 2) if round_ % 2 == 0 else (2, 1)
        for workers in order:
            (one if workers == 1 else two).append(cluster(workers, args))
        print(f"round {round_ + 1}: 1 worker {one[-1]:.0f} examples/s, "
              f"2 workers {two[-1]:.0f} examples/s", flush=True)
    ratios = [b / a for a, b in zip(one, two)]
    print(f"median 1 worker: {statistics.median(one):.0f} examples/s; "
          f"2 workers: {statistics.median(two):.0f} examples/s")
    print(f"2 workers / 1 worker: {statistics.median(ratios):.2f}x "
          f"(global batch {args.batch_size}, {args.epochs} timed epochs of "
          f"{args.limit} images, median of {args.rounds} alternated rounds)")


if __name__ == "__main__":
    main()
