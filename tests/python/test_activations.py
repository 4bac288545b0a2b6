"""Model(activations=...): the default "auto" (int8 with a q4_0 model) and the exact f32 path through the Python layer."""

import pickle

import numpy as np
import pytest

import rwkvrt
from conftest import data

Q4_0 = "gguf/tiny-rwkv-7v0-834K-Q4_0.gguf"


def generated_logits(m: rwkvrt.Model, n: int = 8) -> np.ndarray:
    s = m.new_state()
    return np.stack([m.feed(s, [t]) for t in range(40, 40 + n)])


def test_the_default_rounds_a_q4_0_model_to_int8_close_to_f32():
    rounded = generated_logits(rwkvrt.Model(data(Q4_0)))
    assert np.array_equal(rounded, generated_logits(rwkvrt.Model(data(Q4_0), activations="int8")))
    assert np.array_equal(rounded, generated_logits(rwkvrt.Model(data(Q4_0), activations="auto")))
    exact = generated_logits(rwkvrt.Model(data(Q4_0), activations="f32"))
    assert not np.array_equal(rounded, exact)
    # The tolerance of docs/QUANTIZATION.md; NaN fails it.
    assert np.abs(rounded - exact).max() <= 0.25


def test_activations_survive_pickling():
    m = rwkvrt.Model(data(Q4_0), activations="f32")
    assert np.array_equal(generated_logits(pickle.loads(pickle.dumps(m))), generated_logits(m))


def test_unknown_activations_are_an_argument_error():
    with pytest.raises(rwkvrt.ArgumentError, match="int4"):
        rwkvrt.Model(data(Q4_0), activations="int4")
