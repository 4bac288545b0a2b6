"""Model.generate(): determinism, its equivalence with feed + sample, stop strings, prompts as text,
bytes or tokens, and continuing from logits."""

import numpy as np
import pytest

import rwkvrt


def tokens_greedily(model, state, prompt, n):
    """The reference loop on the lower-level calls: feed, take the argmax, feed it back."""
    logits = model.feed(state, list(prompt))
    out = []
    for _ in range(n):
        token = int(np.argmax(logits))
        out.append(token)
        logits = model.feed(state, token)
    return out


def test_greedy_generation_equals_the_feed_and_argmax_loop(model):
    expected = tokens_greedily(model, model.new_state(), b"Hello", 40)
    state = model.new_state()
    gen = model.generate(state, "Hello", temperature=0, max_tokens=40)
    text = "".join(gen)
    assert gen.stop_reason == "max_tokens" and gen.n_tokens == 40
    assert text == bytes(expected).decode("utf-8", "replace")
    assert state.n_tokens == 5 + 40


def test_same_seed_same_text(model):
    def run(seed):
        return "".join(model.generate(model.new_state(), "Once upon a time", seed=seed, max_tokens=60))

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_sampler_object_equals_keywords(model):
    by_keywords = "".join(model.generate(model.new_state(), "Hi", max_tokens=50, temperature=0.8, top_p=0.5, seed=3))
    sampler = rwkvrt.Sampler(model.n_vocab, temperature=0.8, top_p=0.5, seed=3)
    gen = model.generate(model.new_state(), "Hi", max_tokens=50, sampler=sampler)
    assert "".join(gen) == by_keywords
    assert gen.sampler is sampler


def test_prompt_as_text_bytes_or_tokens(model):
    def run(prompt):
        state = model.new_state()
        return "".join(model.generate(state, prompt, seed=5, max_tokens=30)), state.n_tokens

    expected = run("Hello")
    assert run(b"Hello") == expected
    assert run(list(b"Hello")) == expected
    assert run(np.frombuffer(b"Hello", dtype=np.uint8)) == expected


def test_stop_string_ends_the_text_and_is_consumed(model):
    # Greedy with a presence penalty, so that the tiny model does not loop on " the".
    options = dict(temperature=0, presence_penalty=3.0, max_tokens=60)
    full = "".join(model.generate(model.new_state(), "In the", **options))
    stop = full[10:14]
    cut = full.index(stop)
    assert full[: cut + len(stop)].isascii()  # one token per character below
    state = model.new_state()
    gen = model.generate(state, "In the", stop=[stop, "never appears"], **options)
    assert "".join(gen) == full[:cut]
    assert gen.stop_reason == "stop_string"
    # The state has consumed the tokens up to the end of the stop string.
    assert state.n_tokens == len("In the") + cut + len(stop)
    # A single string (or bytes, or bytearray) is one stop string, not a set of characters.
    for one in (stop, stop.encode(), bytearray(stop.encode())):
        assert "".join(model.generate(model.new_state(), "In the", stop=one, **options)) == full[:cut]
    # None, like (), is no stop string.
    assert "".join(model.generate(model.new_state(), "In the", stop=None, **options)) == full


def test_a_state_fed_behind_a_generation_stops_it(model):
    state = model.new_state()
    gen = model.generate(state, "In the", temperature=0, max_tokens=20)
    next(gen)
    model.feed(state, [1])  # the generation's logits no longer follow the state
    with pytest.raises(rwkvrt.ArgumentError, match="outside this generation"):
        next(gen)


def test_stop_strings_cannot_hold_nul(model):
    with pytest.raises(rwkvrt.ArgumentError, match="NUL"):
        model.generate(model.new_state(), "In the", stop="a\x00b")


def test_end_token(model):
    # With the byte tokenizer there is no end token by default; naming the first greedy token stops at once.
    first = tokens_greedily(model, model.new_state(), b"The ", 1)[0]
    gen = model.generate(model.new_state(), "The ", temperature=0, end_token=first)
    assert list(gen) == [] and gen.stop_reason == "end_token" and gen.n_tokens == 0


def test_continue_from_logits(model):
    state = model.new_state()
    gen = model.generate(state, "Hello", temperature=0, max_tokens=10)
    first = "".join(gen)
    saved, logits = bytes(state), gen.logits
    rest = "".join(model.generate(state, None, logits=logits, temperature=0, max_tokens=10))

    again = rwkvrt.State.from_bytes(model, saved)
    assert "".join(model.generate(again, None, logits=logits, temperature=0, max_tokens=10)) == rest
    whole = "".join(model.generate(model.new_state(), "Hello", temperature=0, max_tokens=20))
    assert first + rest == whole


def test_generation_is_an_iterator(model):
    gen = model.generate(model.new_state(), "Hi", max_tokens=5, seed=1)
    assert iter(gen) is gen
    pieces = list(gen)
    assert all(isinstance(p, str) and p for p in pieces)
    assert next(gen, None) is None  # stays exhausted
    assert gen.logits.shape == (256,) and gen.logits.dtype == np.float32
