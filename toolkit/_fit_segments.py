"""`model.fit` over the segments of a run resumed mid-epoch."""


def fit_segments(model, pipelines, full, callbacks, epochs, start_epoch, skip,
                  steps_per_epoch, verbose):
    """Fits `model` from `start_epoch` (after `skip` of its batches) to `epochs`.

    A checkpoint taken mid-epoch resumes as two `fit` calls: the rest of
    that epoch, then the following epochs, so no consumed batch is replayed
    and Keras numbers each segment's batches from 0.

    Args:
        model: the compiled model.
        pipelines: `pipelines(first, last, skip=0)` -> `DataPipelines` of
            epochs `first .. last - 1`, the first `skip` batches left out.
        full: `pipelines(start_epoch, epochs)`, already made.
        callbacks: the callbacks of every `fit`.
        epochs: the epoch training stops before.
        start_epoch: the first epoch to train.
        skip: batches of `start_epoch` already trained.
        steps_per_epoch: batches in a whole epoch.
        verbose: Keras' `verbose`.

    Returns:
        The history of all segments, one list per metric.
    """
    history = {}
    segments = []
    if skip and start_epoch < epochs:
        # The checkpoint was taken mid-epoch: train only the rest of that
        # epoch, then the following epochs, never replaying consumed batches.
        segments.append((pipelines(start_epoch, start_epoch + 1, skip),
                         start_epoch, start_epoch + 1, steps_per_epoch - skip))
        start_epoch += 1
        full = pipelines(start_epoch, epochs)
    if start_epoch < epochs:
        segments.append((full, start_epoch, epochs, steps_per_epoch))
    for segment, first, last, steps in segments:
        fitted = model.fit(
            segment.train,
            epochs=last,
            initial_epoch=first,
            steps_per_epoch=steps,
            validation_data=segment.validation,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
        for key, values in fitted.history.items():
            history.setdefault(key, []).extend(values)
    return history
