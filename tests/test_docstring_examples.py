"""The ```python examples in the docstrings of `keras_tb_toolkit.callbacks` run.

Every public callback (and `plot_history`) must have one; each block runs
as written, in a fresh temporary working directory, so relative paths such
as `logs/run` land there.
"""

import inspect
import re

import keras
import pytest

from keras_tb_toolkit import callbacks

_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _examples(obj):
    return [inspect.cleandoc(block) for block in _BLOCK.findall(inspect.getdoc(obj) or "")]


def _needs_example(obj):
    is_callback = inspect.isclass(obj) and issubclass(obj, keras.callbacks.Callback)
    return is_callback or inspect.isfunction(obj)


PUBLIC = {name: getattr(callbacks, name) for name in callbacks.__all__}
WITH_EXAMPLES = sorted(name for name, obj in PUBLIC.items() if _examples(obj))


def test_every_public_callback_and_function_has_an_example():
    missing = [name for name, obj in PUBLIC.items() if _needs_example(obj) and not _examples(obj)]
    assert missing == []


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_example_runs(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for index, code in enumerate(_examples(PUBLIC[name])):
        assert "from keras_tb_toolkit.callbacks import" in code, name
        assert not re.search(r"import keras_tb_toolkit\.|from keras_tb_toolkit\.(?!callbacks import)", code), name
        keras.utils.clear_session()
        exec(compile(code, f"<{name} example {index}>", "exec"), {"__name__": "__example__"})
