"""Golden tests: logits after '"in' match the float64 reference element by element, for every RWKV
version and file format of the tiny models; and the ways of feeding agree with each other."""

import numpy as np
import pytest

import rwkvrt
from conftest import PROMPT_IN, data, reference_logits

VERSIONS = {  # version -> architecture name
    "4v0-660K": "rwkv4", "5v1-730K": "rwkv5.0", "5v2-730K": "rwkv5.2", "6v0-3m": "rwkv6", "7v0-834K": "rwkv7",
}
TOLERANCE = 1e-3  # max abs diff for f32 weights (the reference is float64)


def model_files(version: str) -> list[str]:
    # rwkv.cpp's FP32 file of 6v0 is missing; its substitute is the reference's own source.
    cpp = "tiny-rwkv-6v0-3m-Q5_1dq-FP32.bin" if version == "6v0-3m" else f"tiny-rwkv-{version}-FP32.bin"
    return [f"pth/tiny-rwkv-{version}-fp32.pth", f"safetensors/tiny-rwkv-{version}-fp32.safetensors", f"rwkvcpp/{cpp}"]


@pytest.mark.parametrize("version,file", [(v, f) for v in VERSIONS for f in model_files(v)])
def test_logits_match_reference(version, file):
    model = rwkvrt.Model(data(file))
    assert model.arch == VERSIONS[version]
    assert model.n_vocab == 256
    state = model.new_state()
    logits = model.feed(state, PROMPT_IN)
    expected = reference_logits(version)
    assert logits.shape == expected.shape == (256,)
    assert np.max(np.abs(logits - expected)) <= TOLERANCE


@pytest.mark.parametrize("name", ["random-rwkv7-h4-fp32", "random-rwkv7-h4-bf16", "random-rwkv6-h4-fp32",
                                  "random-rwkv6-h4-bf16"])
def test_multi_head_models_match_reference(name):
    model = rwkvrt.Model(data(f"random/{name}.pth"))
    expected = np.fromfile(data(f"random/{name}.expected-logits.bin"), dtype=np.float32)
    assert np.max(np.abs(model.feed(model.new_state(), PROMPT_IN) - expected)) <= TOLERANCE


def test_feed_returns_a_fresh_float32_array(model):
    state = model.new_state()
    a = model.feed(state, PROMPT_IN)
    b = model.feed(state, PROMPT_IN)
    assert a.dtype == np.float32 and a.shape == (model.n_vocab,)
    assert a.flags.owndata and a.flags.writeable and a.flags.c_contiguous
    assert not np.shares_memory(a, b)
    assert state.n_tokens == 6


def test_all_logits_gives_the_logits_after_every_token(model):
    tokens = list(b"a longer prompt to score, token by token")
    rows = model.feed(model.new_state(), tokens, all_logits=True)
    assert rows.dtype == np.float32 and rows.shape == (len(tokens), model.n_vocab)
    state = model.new_state()
    one_by_one = np.stack([model.feed(state, t) for t in tokens])
    assert np.max(np.abs(rows - one_by_one)) <= 1e-5


def test_token_argument_forms_agree(model):
    expected = model.feed(model.new_state(), PROMPT_IN)
    for tokens in (tuple(PROMPT_IN), np.array(PROMPT_IN, dtype=np.int64), np.array(PROMPT_IN, dtype=np.uint8),
                   np.array(PROMPT_IN, dtype=np.int32), list(b'"in')):
        assert np.array_equal(model.feed(model.new_state(), tokens), expected)
    state = model.new_state()
    for token in PROMPT_IN:
        logits = model.feed(state, token)
    assert np.max(np.abs(logits - expected)) <= 1e-5


def test_sequence_and_one_by_one_agree_across_the_prefill_chunk(model):
    tokens = list(b"The quick brown fox jumps over the lazy dog. " * 7)  # 315 tokens
    whole = model.feed(model.new_state(), tokens)
    state = model.new_state()
    for t in tokens:
        one = model.feed(state, t)
    assert np.max(np.abs(whole - one)) <= 1e-4


def test_weight_conversion_stays_close(model):
    f16 = rwkvrt.Model(model.path, weight_type="f16", threads=1)
    assert f16.weight_type == "f16"
    diff = np.max(np.abs(f16.feed(f16.new_state(), PROMPT_IN) - reference_logits("7v0-834K")))
    assert diff <= 5e-2


def test_model_properties(model):
    assert (model.n_layer, model.n_embd, model.n_vocab) == (12, 64, 256)
    assert model.weight_type == "f32"
    assert model.path == str(data("pth/tiny-rwkv-7v0-834K-fp32.pth"))
    assert "rwkv7" in repr(model)
