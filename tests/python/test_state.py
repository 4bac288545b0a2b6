"""States: copies, snapshots (bytes), state files, pickling, token counts and metadata. A restored
state must continue exactly as the original would have."""

import copy
import pickle

import numpy as np
import pytest

import rwkvrt
from conftest import PROMPT_IN

HISTORY = list(b"User: hello\n\nAssistant: Hi there.\n\n")
NEXT = list(b"User: and now?")


def fed(model, tokens=HISTORY):
    state = model.new_state()
    model.feed(state, tokens)
    return state


def continuation(model, state):
    return model.feed(state, NEXT)


def test_copy_is_independent(model):
    state = fed(model)
    for twin in (state.copy(), copy.copy(state), copy.deepcopy(state)):
        assert twin.model is state.model
        assert twin.n_tokens == state.n_tokens
        assert np.array_equal(continuation(model, twin), continuation(model, state.copy()))
    # Feeding the copy left the original where it was.
    assert state.n_tokens == len(HISTORY)


def test_reset_returns_to_an_empty_context(model):
    state = fed(model)
    state.reset()
    assert state.n_tokens == 0
    assert np.array_equal(model.feed(state, PROMPT_IN), model.feed(model.new_state(), PROMPT_IN))


def test_bytes_round_trip_is_exact(model):
    state = fed(model)
    snapshot = bytes(state)
    restored = rwkvrt.State.from_bytes(model, snapshot)
    assert restored.n_tokens == len(HISTORY)
    assert bytes(restored) == snapshot
    assert np.array_equal(continuation(model, restored), continuation(model, state))
    # restore() in place, from any bytes-like object.
    other = model.new_state()
    other.restore(bytearray(snapshot))
    assert bytes(other) == snapshot
    other.restore(memoryview(snapshot))
    assert bytes(other) == snapshot


def test_snapshot_from_the_same_file_loaded_twice_fits(model):
    twin = rwkvrt.Model(model.path)
    state = rwkvrt.State.from_bytes(twin, bytes(fed(model)))
    assert np.array_equal(continuation(twin, state), continuation(model, fed(model)))


def test_save_and_load_are_exact(model, tmp_path):
    state = fed(model)
    state.metadata = "transcript"
    path = tmp_path / "chat.state"
    state.save(path)
    assert path.read_bytes() == bytes(state)  # a state file holds a snapshot's bytes
    loaded = rwkvrt.State.load(model, str(path))  # str paths work as well as pathlib ones
    assert loaded.n_tokens == len(HISTORY)
    assert loaded.metadata == b"transcript"
    assert np.array_equal(continuation(model, loaded), continuation(model, state))


@pytest.mark.parametrize("value_type", ["f16", "bf16"])
def test_half_precision_files_are_smaller_and_close(model, tmp_path, value_type):
    state = fed(model)
    state.save(tmp_path / "f32.state")
    state.save(tmp_path / "half.state", value_type=value_type)
    assert (tmp_path / "half.state").stat().st_size < (tmp_path / "f32.state").stat().st_size
    loaded = rwkvrt.State.load(model, tmp_path / "half.state")
    assert np.max(np.abs(continuation(model, loaded) - continuation(model, state))) < 0.5


def test_sampler_saved_with_the_state_resumes_generation_exactly(model, tmp_path):
    state = fed(model)
    sampler = rwkvrt.Sampler(model.n_vocab, temperature=1.0, top_p=0.9, seed=7)
    "".join(model.generate(state, "Hi", sampler=sampler, max_tokens=5))
    state.save(tmp_path / "s.state", sampler=sampler)
    expected = "".join(model.generate(state, "More", sampler=sampler, max_tokens=20))

    fresh_sampler = rwkvrt.Sampler(model.n_vocab, temperature=0.5, seed=999)
    resumed = rwkvrt.State.load(model, tmp_path / "s.state", sampler=fresh_sampler)
    assert "".join(model.generate(resumed, "More", sampler=fresh_sampler, max_tokens=20)) == expected


def test_a_sampler_of_another_vocabulary_is_not_saved_with_the_state(model, tmp_path):
    # It could never be loaded back beside this state: refused at save time, and no file is left.
    with pytest.raises(rwkvrt.ModelMismatchError, match="vocabulary of 300"):
        fed(model).save(tmp_path / "s.state", sampler=rwkvrt.Sampler(300))
    assert not (tmp_path / "s.state").exists()


def test_restore_reads_a_strided_buffer_in_order(model):
    state = fed(model)
    data = bytes(state)
    backwards = np.frombuffer(data[::-1], np.uint8)[::-1]  # the snapshot's bytes, through a reversed view
    every_other = np.zeros(2 * len(data), np.uint8)
    every_other[::2] = np.frombuffer(data, np.uint8)
    for view in (backwards, every_other[::2], memoryview(every_other)[::2]):
        restored = model.new_state()
        restored.restore(view)
        assert bytes(restored) == data
    sampler = rwkvrt.Sampler(model.n_vocab, seed=3)
    blob = bytes(sampler)
    copy_of = rwkvrt.Sampler(model.n_vocab)
    copy_of.restore(np.frombuffer(blob[::-1], np.uint8)[::-1])
    assert bytes(copy_of) == blob
    with pytest.raises(TypeError):
        model.new_state().restore(np.zeros(4, np.float32))


def test_pickle_round_trip(model):
    state = fed(model)
    state.metadata = b"\x00binary\xff"
    clone = pickle.loads(pickle.dumps(state))
    assert clone.model is not model  # the model was loaded again, from its path
    assert clone.model.path == model.path
    assert clone.n_tokens == state.n_tokens and clone.metadata == state.metadata
    assert np.array_equal(continuation(clone.model, clone), continuation(model, state))


def test_pickled_states_share_one_reloaded_model(model):
    a, b = pickle.loads(pickle.dumps([fed(model), fed(model, PROMPT_IN)]))
    assert a.model is b.model
    assert b.n_tokens == 3


def test_model_and_tokenizer_pickle_by_path(model, world_tokenizer):
    clone = pickle.loads(pickle.dumps(model))
    assert (clone.path, clone.arch, clone.n_layer) == (model.path, model.arch, model.n_layer)
    assert copy.deepcopy(model) is model  # immutable: copies are the object itself
    tok = pickle.loads(pickle.dumps(world_tokenizer))
    assert tok.path == world_tokenizer.path and tok.encode("Hello") == world_tokenizer.encode("Hello")
    assert pickle.loads(pickle.dumps(rwkvrt.Tokenizer.byte_level())).kind == "bytes"


def test_state_keeps_its_model_alive():
    import gc
    from conftest import TINY7, data

    state = rwkvrt.Model(data(TINY7)).new_state()
    gc.collect()
    assert state.model.n_layer == 12
    assert state.model.feed(state, PROMPT_IN).shape == (256,)


def test_metadata(model):
    state = model.new_state()
    assert state.metadata == b""
    state.metadata = "héllo"
    assert state.metadata == "héllo".encode()
    state.reset()
    assert state.metadata == "héllo".encode()  # reset keeps it
    assert state.copy().metadata == state.metadata
    assert rwkvrt.State.from_bytes(model, bytes(state)).metadata == state.metadata
    state.metadata = b""
    assert state.metadata == b""
    with pytest.raises(TypeError):
        state.metadata = 42


def test_n_tokens_counts_across_restores(model):
    state = fed(model)
    model.feed(state, NEXT)
    restored = rwkvrt.State.from_bytes(model, bytes(state))
    model.feed(restored, [1])
    assert restored.n_tokens == len(HISTORY) + len(NEXT) + 1
    assert repr(restored) == f"<rwkvrt.State rwkv7 n_tokens={restored.n_tokens}>"
