"""GGUF models through the Python layer: loading, reference logits, the embedded tokenizer, writing."""

import pickle

import numpy as np
import pytest

import rwkvrt
from conftest import PROMPT_IN, data


def test_gguf_model_matches_its_reference():
    m = rwkvrt.Model(data("gguf/random-rwkv7-h4-Q4_K_M.gguf"), activations="f32")
    assert (m.arch, m.weight_type) == ("rwkv7", "q4_k")
    s = rwkvrt.State(m)
    for t in PROMPT_IN:
        logits = m.feed(s, [t])
    expected = np.fromfile(data("gguf/random-rwkv7-h4-Q4_K_M.expected-logits.bin"), dtype=np.float32)
    assert np.max(np.abs(logits - expected)) <= 5e-5  # float32 rounding only (see tests/formats/test_gguf.cpp)


def test_embedded_tokenizer_is_used_by_default():
    m = rwkvrt.Model(data("gguf/tiny-rwkv-7v0-834K-Q8_0.gguf"))
    tok = rwkvrt.Tokenizer.from_model(m)
    assert (tok.kind, tok.n_vocab) == ("bytes", 256)
    with pytest.raises(TypeError):
        pickle.dumps(tok)
    text = "".join(m.generate(rwkvrt.State(m), "Hello", max_tokens=3, temperature=0))
    assert isinstance(text, str)
    with pytest.raises(rwkvrt.UnsupportedError):
        rwkvrt.Tokenizer.from_model(rwkvrt.Model(data("pth/tiny-rwkv-7v0-834K-fp32.pth")))
