"""Training under `MultiWorkerMirroredStrategy` with a loop of our own.

Why not `model.fit`: with TensorFlow 2.21 and Keras 3.15, `fit` under
`MultiWorkerMirroredStrategy` fails before its first step ("Attempt to
convert a value (PerReplica...) with an unsupported type ... to a Tensor",
keras-team/keras#20585): to build the model it averages the first input
batch across replicas (`strategy.reduce("MEAN", batch)` in the TensorFlow
trainer's symbolic build, whenever the model was made in a strategy's
scope, with no public way around it), and that strategy's reduction cannot
convert the distributed batch. The training step itself works: this loop
runs the model's own `train_step` and `test_step` (so a
subclassed model's hand-written step runs unchanged) inside `strategy.run`,
exactly as `fit` would on one machine, and drives the callbacks through
`keras.callbacks.CallbackList` with the hooks and logs `fit` gives them.

What it keeps from `fit`:

- Each worker feeds its shard of every global batch: the data set is
  batched with the global batch size and distributed with
  `strategy.experimental_distribute_dataset` (sharded by data, so workers
  need no files of their own); Keras divides each replica's loss by the
  number of replicas, so the all-reduced gradient is the gradient of the
  global batch's mean loss, as under `MirroredStrategy`.
- The logs: the metrics each replica's step returns, averaged over the
  replicas in one all-reduce (Keras' `reduce_per_replica` "auto" does the
  same), so every worker passes identical logs to its callbacks; the epoch's
  logs gain `val_*` from a pass over the validation data, inside
  `on_test_begin` / `on_test_end` as in `fit`. The metrics are reset at each
  epoch's start, as `fit` does.
- The numbering: batches count from 0 in each epoch, and the first epoch of
  a resumed run has only the batches its checkpoint had not consumed,
  numbered from 0, as `fit(initial_epoch=...)` numbers a resumed segment.

Every worker runs every callback, outside the strategy's scope as `fit`
runs them: the callbacks ask the model's strategy whether they may write
(`should_save_summary`, `should_checkpoint`), and only the chief may. A
callback must therefore never run a collective operation on the chief
alone (reading a variable synchronised on read, or creating a variable in
the strategy's scope, is one); every step, reduction and validation pass
here is taken by all workers in the same order.
"""

import keras
import tensorflow as tf


class DistributedLoop:
    """Trains and evaluates a model built in `strategy.scope()`, on every worker.

    Args:
        model: a compiled Keras model, built in `strategy.scope()`.
        strategy: the `tf.distribute.Strategy` every worker created the
            same way (typically `MultiWorkerMirroredStrategy`).

    Example:

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # from TF_CONFIG
    with strategy.scope():
        model = build_and_compile()
    loop = DistributedLoop(model, strategy)
    history = loop.fit(train, validation, epochs=5, steps_per_epoch=100,
                       callbacks=[ScalarLogger(run_dir)])
    scores = loop.evaluate(test)
    ```
    """

    def __init__(self, model, strategy):
        self.model = model
        self.strategy = strategy
        self._test_function = None

    def fit(self, train, validation, *, epochs, steps_per_epoch, initial_epoch=0,
            skip_batches=0, callbacks=(), verbose=1):
        """Trains epochs `initial_epoch .. epochs - 1`; returns the history dict.

        Args:
            train: a `tf.data.Dataset` of global batches holding exactly the
                batches to train: those of `initial_epoch` after the first
                `skip_batches`, then every batch of the later epochs.
            validation: a `tf.data.Dataset` of global batches evaluated after
                each epoch (logs `val_*`), or None.
            epochs: the epoch training stops before.
            steps_per_epoch: batches in a whole epoch.
            initial_epoch: the first epoch trained. Defaults to `0`.
            skip_batches: batches of `initial_epoch` a checkpoint had already
                trained; that epoch runs only the rest. Defaults to `0`.
            callbacks: Keras callbacks, run on every worker. Defaults to `()`.
            verbose: `0` silent, else a progress bar. Defaults to `1`.

        Returns:
            The `History` dict: one list per logged metric, one value per
            epoch trained.
        """
        model = self.model
        callback_list = keras.callbacks.CallbackList(
            list(callbacks), add_history=True, add_progbar=verbose != 0,
            model=model, verbose=verbose, epochs=epochs, steps=steps_per_epoch,
        )
        # Traced at its first call, after `on_train_begin`: callbacks that
        # hook the optimizer there (HistogramLogger) are part of the step.
        train_function = self._distributed(model.train_step)
        batches = iter(self._distribute(train))
        model.stop_training = False
        callback_list.on_train_begin()
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            steps = steps_per_epoch - (skip_batches if epoch == initial_epoch else 0)
            logs = {}
            for batch in range(steps):
                callback_list.on_train_batch_begin(batch)
                logs = train_function(next(batches))
                callback_list.on_train_batch_end(batch, logs)
            epoch_logs = _floats(logs)
            if validation is not None:
                scores = self._evaluate(validation, callback_list)
                epoch_logs.update({f"val_{name}": value for name, value in scores.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        return dict(model.history.history)

    def evaluate(self, dataset):
        """The model's metrics over `dataset` (global batches), as floats.

        Every worker evaluates its shard; the result, the same on every
        worker, averages the replicas' metrics.
        """
        return self._evaluate(dataset, keras.callbacks.CallbackList([], model=self.model))

    def _evaluate(self, dataset, callback_list):
        # The test hooks fire as in `fit`'s validation: `ScalarLogger` stops
        # its examples-per-second clock at `on_test_begin`.
        if self._test_function is None:
            self._test_function = self._distributed(self.model.test_step)
        self.model.reset_metrics()
        callback_list.on_test_begin()
        logs = {}
        for step, batch in enumerate(self._distribute(dataset)):
            callback_list.on_test_batch_begin(step)
            logs = self._test_function(batch)
            callback_list.on_test_batch_end(step, logs)
        logs = _floats(logs)
        callback_list.on_test_end(logs)
        return logs

    def _distribute(self, dataset):
        options = tf.data.Options()
        # Each worker keeps its share of every batch: no input files needed.
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return self.strategy.experimental_distribute_dataset(
            dataset.with_options(options)
        )

    def _distributed(self, step):
        strategy = self.strategy

        @tf.function(reduce_retracing=True)
        def run(batch):
            outputs = strategy.run(step, args=(batch,))
            return {
                name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in outputs.items()
            }

        return run


def _floats(logs):
    return {name: float(value) for name, value in logs.items()}
