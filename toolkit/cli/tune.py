"""`ktb tune`: a Keras Tuner search with every TensorBoard callback and HParams.

Running the same command again resumes the search (finished trials are not
run again; the interrupted one is). `--overwrite` starts it afresh.

Distributed search, over several machines, uses keras-tuner's chief/worker
mode over gRPC. Every process runs the same command (same `--space`,
`--tuner`, data and training options), and they differ only in their role:

- one chief, `--chief HOST:PORT`: it listens on HOST:PORT and serves the
  oracle (which trial to run next); it runs no trial itself (start a worker
  on its machine too to use it). When the last worker is done it writes the
  leaderboard and `best_model.keras` and prints the leaderboard. Give it
  the address of a private interface (one the workers reach and the
  internet does not) to accept workers from other machines: the oracle
  service speaks plaintext gRPC with no authentication, so anyone who
  reaches the port can read and steer the search, and `ktb tune` warns
  when HOST is not a loopback address. Firewall the port to the workers'
  addresses, or keep the chief on 127.0.0.1 and let each worker reach it
  through an SSH tunnel (`ssh -N -L 8000:127.0.0.1:8000 chief-host`, then
  `--worker 127.0.0.1:8000`).
- any number of workers, `--worker HOST:PORT --worker-id N`, where HOST:PORT
  is the chief's address and N an id unique to the worker: each asks the
  chief for trials and trains them. A worker may start before the chief (it
  waits for it, up to an hour); one restarted with the same id finishes the
  trial it was running.

All of them must reach the search directory `<--logdir>/<--name>` on a file
system they share (NFS or similar, or a bucket: `--logdir gs://bucket/logs`
on every machine): workers write each trial's run
directory there (its callbacks' output and HParams session), the chief its
oracle state, the HParams experiment, the leaderboard and the best model.
So give every process the same `--logdir` (the shared directory, mounted at
the same path everywhere) and the same `--name` (the default,
`tune-SPACE-TUNER`, matches when `--space` and `--tuner` do). Only the chief
may `--overwrite`. For example, with `/shared` mounted on three machines
and the chief on 10.0.0.1, an address of the machines' private network:

    ktb tune --max-trials 30 --logdir /shared/logs --name mnist --chief 10.0.0.1:8000
    ktb tune --max-trials 30 --logdir /shared/logs --name mnist --worker 10.0.0.1:8000 --worker-id 0
    ktb tune --max-trials 30 --logdir /shared/logs --name mnist --worker 10.0.0.1:8000 --worker-id 1

Then `ktb board /shared/logs` shows every trial, from whichever machine.

Each trial writes the light set by default (`--trial-callbacks light`:
scalars with the learning rate, weight and gradient histograms,
`gradient_norm`, `update_ratio`, its HParams session, a PNG history plot);
`--trial-callbacks full` attaches every callback of `ktb train` to each
trial. When the search ends, the best trial is inspected with every
callback into `<--logdir>/<--name>/best/`; `--inspect-best` does only that,
for a search that has finished.
"""

import argparse
import ipaddress
import socket
import sys

from ._args import positive_int, positive_int_up_to, seed
from ..config import MAX_BATCH_SIZE, MAX_EPOCHS, SPACES, TUNERS
from ..data import DATASETS

# The choices of --trial-callbacks, here so that the parser needs no
# TensorFlow (toolkit.tuning.TRIAL_CALLBACKS holds the same).
TRIAL_CALLBACKS = ("light", "full")


def add_parser(commands):
    tune = commands.add_parser(
        "tune", help="search hyperparameters with Keras Tuner and the HParams dashboard"
    )
    tune.add_argument("--space", choices=SPACES, default="all",
                      help="search space: one API style or all (default: %(default)s)")
    tune.add_argument("--tuner", choices=TUNERS, default="random",
                      help="search algorithm (default: %(default)s)")
    tune.add_argument("--max-trials", type=positive_int, default=10, help="(default: %(default)s)")
    tune.add_argument("--epochs", type=positive_int_up_to(MAX_EPOCHS), default=3,
                      help="epochs per trial; Hyperband's max epochs (default: %(default)s)")
    tune.add_argument("--executions-per-trial", type=positive_int, default=1,
                      help="models trained per trial (default: %(default)s)")
    source = tune.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="PATH",
                        help="an .npz file (a path or a URL) with x_train, y_train, "
                        "x_test, y_test")
    source.add_argument("--dataset", choices=DATASETS, default=None,
                        help="a named data set (default: mnist-mini, embedded in the package)")
    tune.add_argument("--batch-size", type=positive_int_up_to(MAX_BATCH_SIZE), default=128, help="(default: %(default)s)")
    tune.add_argument("--logdir", default="logs",
                      help="log root: a directory, or a URL TensorFlow writes such as "
                      "gs://bucket/logs (default: %(default)s)")
    tune.add_argument("--name", help="search directory under --logdir (default: tune-SPACE-TUNER)")
    tune.add_argument("--overwrite", action="store_true",
                      help="start afresh instead of resuming a search of that name")
    tune.add_argument("--seed", type=seed, default=0, help="(default: %(default)s)")
    tune.add_argument("--limit", type=positive_int, default=None,
                      help="use only the first N training and test images (quick runs)")
    tune.add_argument("--trial-callbacks", choices=TRIAL_CALLBACKS, default="light",
                      help="what each trial writes: light (scalars, weight and gradient "
                           "histograms, HParams, PNG plot) or full (every callback of "
                           "ktb train) (default: %(default)s)")
    tune.add_argument("--inspect-best", action="store_true",
                      help="run no trial: inspect the best trial of the finished search "
                           "--logdir/--name into its best/ run")
    role = tune.add_mutually_exclusive_group()
    role.add_argument("--chief", type=host_port, metavar="HOST:PORT",
                      help="serve the search to workers on HOST:PORT")
    role.add_argument("--worker", type=host_port, metavar="HOST:PORT",
                      help="run trials for the chief at HOST:PORT (needs --worker-id)")
    tune.add_argument("--worker-id", type=non_negative_int, metavar="N",
                      help="this worker's id, unique per worker, kept across restarts")
    tune.set_defaults(handler=run)


def host_port(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT with a port in 1..65535, received: {text!r}"
        )
    return host, port


def non_negative_int(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(
            f"must be an integer >= 0, received: {text!r}"
        )
    return int(text)


def warn_if_exposed(host, port):
    """Warns, in one line on stderr, when the chief listens beyond loopback.

    keras-tuner's oracle service speaks plaintext gRPC with no
    authentication: whoever reaches the port can read the search and ask
    for trials or report results. A name is resolved to decide; one that
    does not resolve is warned about, since it cannot be shown private.
    """
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port)}
    except (OSError, UnicodeError):
        addresses = set()
    if addresses and all(
        ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses
    ):
        return
    print(
        f"ktb tune: warning: --chief {host}:{port} is not a loopback address: the "
        "oracle service speaks plaintext gRPC with no authentication, so anyone who "
        f"reaches port {port} can read and steer the search; bind a private interface "
        "and firewall the port to the workers, or tunnel it "
        f"(ssh -N -L {port}:127.0.0.1:{port} chief-host)",
        file=sys.stderr,
    )


def run(args):
    from .. import _remote, runs
    from ..config import TrainConfig
    from ..errors import ConfigError

    if args.worker is not None and args.worker_id is None:
        raise ConfigError("--worker needs --worker-id N")
    if args.worker_id is not None and args.worker is None:
        raise ConfigError("--worker-id is only for --worker HOST:PORT")
    if args.worker is not None and args.overwrite:
        raise ConfigError("--overwrite: only the chief (or a single process) may start afresh")
    if args.inspect_best and (args.chief is not None or args.worker is not None):
        raise ConfigError("--inspect-best runs in one process: drop --chief/--worker")
    runs.check_run_name(args.name, "--name")
    # Before the data loads or anything is written: a URL whose file system
    # is missing or unreachable is a usage error.
    _remote.check_url(args.logdir, "--logdir")
    if args.data is not None:
        _remote.check_url(args.data, "--data")
    arrays = TrainConfig(data=args.data or args.dataset or "mnist-mini",
                         logdir=args.logdir).validate().load_arrays()
    from .. import tuning

    if args.inspect_best:
        result = tuning.inspect_search(
            arrays, logdir=args.logdir, name=args.name or f"tune-{args.space}-{args.tuner}"
        )
        print_results(result)
        return 0
    if args.chief is not None:
        # After every usage check, so that an error stays one line.
        warn_if_exposed(*args.chief)
    address = args.chief or args.worker
    if address is not None:
        tuning.set_distributed_role(
            *address, tuner_id="chief" if args.chief else f"worker{args.worker_id}"
        )
    result = tuning.run_search(
        arrays,
        space=args.space,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        executions_per_trial=args.executions_per_trial,
        logdir=args.logdir,
        name=args.name,
        overwrite=args.overwrite,
        seed=args.seed,
        limit=args.limit,
        batch_size=args.batch_size,
        trial_callbacks=args.trial_callbacks,
        progress=None if args.worker is not None else print_progress,
    )
    if args.worker is not None:
        print(f"worker {args.worker_id}: search finished")
        return 0
    print_results(result)
    return 0


def print_progress(line):
    # One flushed line per trial, so a log file or a pipe shows it at once.
    print(line, flush=True)


def print_results(result):
    from .. import tuning

    print(f"\nleaderboard ({result.search_dir}, runs relative to it):")
    print(tuning.leaderboard_text(result.leaderboard, tuning.OBJECTIVE))
    print(f"best run: {result.best_dir or 'none (no trial finished)'}")
    print(f"best model: {result.best_model_path or 'none (no trial finished)'}")
