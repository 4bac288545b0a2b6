"""Tokenizers and samplers through the Python layer."""

import copy
import math
import pickle

import numpy as np
import pytest

import rwkvrt
from conftest import data


def test_byte_tokenizer():
    tok = rwkvrt.Tokenizer.byte_level()
    assert (tok.kind, tok.n_vocab, tok.path) == ("bytes", 256, None)
    assert tok.encode("é") == [0xC3, 0xA9]
    assert tok.encode(b"\xff") == [255]
    assert tok.decode([0xC3, 0xA9]) == "é"
    assert tok.decode([0xC3]) == "\ufffd"  # a cut character
    assert tok.decode_bytes([0xC3]) == b"\xc3"
    assert tok.token_bytes(65) == b"A"
    assert tok.encode("") == [] and tok.decode([]) == ""


def test_world_tokenizer_round_trip(world_tokenizer):
    assert (world_tokenizer.kind, world_tokenizer.n_vocab) == ("world", 65536)
    text = "Hello, world! 你好 \n\n User: ok"
    ids = world_tokenizer.encode(text)
    assert all(isinstance(i, int) for i in ids) and len(ids) < len(text.encode())
    assert world_tokenizer.decode(ids) == text
    assert b"".join(world_tokenizer.token_bytes(i) for i in ids) == text.encode()


def test_bpe_tokenizer_round_trip():
    tok = rwkvrt.Tokenizer(data("tokenizers/20B_tokenizer.json"))
    assert tok.kind == "bpe" and tok.n_vocab == 50277
    assert tok.encode("Hello world") == [12092, 1533]
    assert tok.decode(tok.encode("Hello world")) == "Hello world"
    # Special tokens are recognized in the text, and decode to nothing.
    assert tok.encode("Hi<|endoftext|>")[-1] == 0 and tok.decode([0]) == ""


def test_long_text_encodes_beyond_the_first_guess(world_tokenizer):
    text = "x" * 10_000 + "é" * 1000
    assert world_tokenizer.decode(world_tokenizer.encode(text)) == text


def test_greedy_sampler_is_argmax():
    logits = np.random.default_rng(0).normal(size=256).astype(np.float32)
    assert rwkvrt.Sampler(256, temperature=0).sample(logits) == int(np.argmax(logits))
    assert rwkvrt.Sampler(256, temperature=0).sample(logits.tolist()) == int(np.argmax(logits))  # any float sequence


def test_sampler_state_round_trips():
    logits = np.random.default_rng(1).normal(size=256).astype(np.float32)
    sampler = rwkvrt.Sampler(256, temperature=1.0, top_k=50, presence_penalty=0.5, seed=11)
    for _ in range(5):
        sampler.sample(logits)
    clones = [rwkvrt.Sampler.from_bytes(256, bytes(sampler)), pickle.loads(pickle.dumps(sampler)),
              copy.copy(sampler), copy.deepcopy(sampler)]
    expected = [sampler.sample(logits) for _ in range(20)]
    assert len(set(expected)) > 1
    for clone in clones:
        assert [clone.sample(logits) for _ in range(20)] == expected


def test_logit_bias_bans_and_penalties_reset():
    logits = np.zeros(256, dtype=np.float32)
    logits[7] = 10.0
    sampler = rwkvrt.Sampler(256, temperature=0)
    sampler.set_logit_bias(7, -math.inf)
    assert sampler.sample(logits) != 7
    sampler.set_logit_bias(7, 0.0)
    assert sampler.sample(logits) == 7

    penalised = rwkvrt.Sampler(256, temperature=0, presence_penalty=20.0)
    penalised.accept([7])
    assert penalised.sample(logits) != 7
    penalised.reset_penalties()
    assert penalised.sample(logits) == 7


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        rwkvrt.Sampler(256, 0.5)
