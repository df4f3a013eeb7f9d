"""`ktb demo`: the three API styles and a search on the embedded data, every dashboard filled."""

import shlex

from ._args import positive_int, seed


def add_parser(commands):
    demo = commands.add_parser(
        "demo",
        help="train the three API styles and run a small search on the embedded "
        "MNIST subset, with every TensorBoard callback",
    )
    demo.add_argument("--logdir", default="logs", help="log root (default: %(default)s)")
    demo.add_argument("--epochs", type=positive_int, default=3,
                      help="epochs per API style (default: %(default)s)")
    demo.add_argument("--trials", type=positive_int, default=4,
                      help="trials of the search (default: %(default)s)")
    demo.add_argument("--search-epochs", type=positive_int, default=2,
                      help="epochs per trial (default: %(default)s)")
    demo.add_argument("--limit", type=positive_int, default=None,
                      help="use only the first N training and test images (quick runs)")
    demo.add_argument("--seed", type=seed, default=0, help="(default: %(default)s)")
    demo.set_defaults(handler=run)


def run(args):
    from ..demo import DemoConfig, run_demo

    result = run_demo(
        DemoConfig(
            logdir=args.logdir, epochs=args.epochs, trials=args.trials,
            search_epochs=args.search_epochs, limit=args.limit, seed=args.seed,
        ),
    )
    print(f"demo finished in {result.seconds:.0f} s: {result.demo_dir}")
    print("open it in TensorBoard with:")
    print(f"  tensorboard --logdir {shlex.quote(result.demo_dir)}")
    return 0
