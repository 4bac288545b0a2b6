"""Many conversations at once: Model.feed_batch, Ctrl-C during long calls, and the PrefixCache."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import rwkvrt


def max_diff(a, b):
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    assert not np.isnan(d).any()
    return float(d.max())


def test_feed_batch_equals_feeding_each_state_alone(model):
    prompts = [[1, 2, 3], list(range(40, 140)), [7]]
    batch = [model.new_state() for _ in prompts]
    alone = [model.new_state() for _ in prompts]
    got = model.feed_batch(batch, prompts)
    want = [model.feed(s, p) for s, p in zip(alone, prompts)]
    assert len(got) == 3
    for g, w in zip(got, want):
        assert g.shape == (model.n_vocab,) and g.dtype == np.float32
        assert max_diff(g, w) <= 1e-5
    # Then every conversation decodes one token, together.
    got = model.feed_batch(batch, [5, [6], np.array([7])])
    want = [model.feed(s, t) for s, t in zip(alone, [5, 6, 7])]
    for g, w in zip(got, want):
        assert max_diff(g, w) <= 1e-5
    assert [s.n_tokens for s in batch] == [4, 101, 2]


def test_feed_batch_is_all_or_nothing(model, other_model):
    a, b = model.new_state(), model.new_state()
    with pytest.raises(rwkvrt.TokenError, match="sequence 1"):
        model.feed_batch([a, b], [[1], [1, 999]])
    with pytest.raises(rwkvrt.ArgumentError, match="same state"):
        model.feed_batch([a, a], [[1], [2]])
    with pytest.raises(rwkvrt.ModelMismatchError, match="sequence 1"):
        model.feed_batch([a, other_model.new_state()], [[1], [2]])
    with pytest.raises(rwkvrt.ArgumentError):
        model.feed_batch([a, b], [[1]])
    assert a.n_tokens == 0 and b.n_tokens == 0


def interrupt_after(seconds):
    """Sends SIGINT to this process after `seconds`; returns the time it was sent (a list to fill)."""
    sent = []

    def fire():
        time.sleep(seconds)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()
    return sent


def test_ctrl_c_interrupts_a_long_feed_and_leaves_the_state_consistent(model):
    one_core = rwkvrt.Model(model.path, threads=1)
    state = one_core.new_state()
    very_long = np.arange(200_000) % 256  # far longer than the half second before the interrupt
    sent = interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        one_core.feed(state, very_long)
    latency = time.perf_counter() - sent[0]
    print(f"KeyboardInterrupt {latency * 1000:.0f} ms after SIGINT")
    fed = state.n_tokens
    assert 0 < fed < len(very_long)
    # Exactly the state after the tokens it reports.
    again = one_core.new_state()
    one_core.feed(again, very_long[:fed])
    assert bytes(again) == bytes(state)


def test_ctrl_c_interrupts_generate(model):
    state = model.new_state()
    sent = interrupt_after(0.3)
    pieces = []
    with pytest.raises(KeyboardInterrupt):
        for piece in model.generate(state, "Once upon a time", max_tokens=1_000_000, seed=1):
            pieces.append(piece)
    assert sent
    assert state.n_tokens > len("Once upon a time")


def test_prefix_cache_serves_a_shared_system_prompt_once(model, tmp_path):
    cache = rwkvrt.PrefixCache(model, dir=tmp_path)
    system = list(b"System: you are terse.\n\n")
    fed = 0
    for user in (b"User: hi\n\nAssistant:", b"User: bye\n\nAssistant:", b"User: hi again\n\nAssistant:"):
        state = model.new_state()
        prompt = system + list(user)
        matched = cache.lookup(prompt[:-1], state)
        if matched == 0:  # the first conversation feeds the system prompt and caches it
            model.feed(state, system)
            cache.insert(system, state)
            fed += len(system)
            matched = len(system)
        logits = model.feed(state, prompt[matched:])
        fed += len(prompt) - matched
        reference = model.feed(model.new_state(), prompt)
        assert max_diff(logits, reference) <= 1e-5
    assert fed == len(system) + sum(len(u) for u in (b"User: hi\n\nAssistant:", b"User: bye\n\nAssistant:",
                                                         b"User: hi again\n\nAssistant:"))
    stats = cache.stats
    assert stats["hits"] == 2 and stats["misses"] == 1 and stats["tokens_saved"] == 2 * len(system)
    # Another process (here: another cache on the same folder) finds the entry on disk.
    again = rwkvrt.PrefixCache(model, dir=tmp_path)
    assert again.stats["entries"] == 1
    state = model.new_state()
    assert again.lookup(system + [1, 2], state) == len(system)


def test_prefix_cache_keeps_a_state_only_under_the_tokens_it_fed(model):
    cache = rwkvrt.PrefixCache(model)
    state = model.new_state()
    model.feed(state, [1, 2, 3])
    for wrong in ([9, 9], [1, 2], [1, 2, 3, 4]):
        with pytest.raises(rwkvrt.ArgumentError, match="fed 3 tokens"):
            cache.insert(wrong, state)
    assert cache.stats["entries"] == 0
    cache.insert([1, 2, 3], state)
    assert cache.lookup([1, 2, 3, 4], model.new_state()) == 3


def test_prefix_cache_folder_stays_put_after_a_chdir(model, tmp_path, monkeypatch):
    (tmp_path / "a" / "pc").mkdir(parents=True)
    (tmp_path / "b" / "pc").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    cache = rwkvrt.PrefixCache(model, dir="pc")
    monkeypatch.chdir(tmp_path / "b")
    state = model.new_state()
    model.feed(state, [1, 2, 3])
    cache.insert([1, 2, 3], state)
    assert len(list((tmp_path / "a" / "pc").iterdir())) == 1
    assert not list((tmp_path / "b" / "pc").iterdir())


def test_batch_invariant_gives_a_lone_conversation_the_bits_of_a_batch(model):
    alone, together, company = model.new_state(), model.new_state(), model.new_state()
    a = model.feed(alone, [3, 4, 5], batch_invariant=True)
    b, _ = model.feed_batch([together, company], [[3, 4, 5], [9]], batch_invariant=True)
    assert np.array_equal(a, b)
    for t in (6, 7, 8):
        a = model.feed(alone, t, batch_invariant=True)
        b, _ = model.feed_batch([together, company], [t, t + 1], batch_invariant=True)
        assert np.array_equal(a, b)
    assert bytes(alone) == bytes(together)
