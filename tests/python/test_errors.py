"""Every bad input raises the rwkvrt.Error subclass of its C status, with the library's message."""

import contextlib
import json
import struct

import numpy as np
import pytest

import rwkvrt
from conftest import PROMPT_IN


def test_hierarchy():
    assert issubclass(rwkvrt.ArgumentError, ValueError)
    assert issubclass(rwkvrt.TokenError, ValueError)
    assert issubclass(rwkvrt.FileError, OSError)
    assert issubclass(rwkvrt.OutOfMemoryError, MemoryError)
    for cls in (rwkvrt.ArgumentError, rwkvrt.FileError, rwkvrt.FormatError, rwkvrt.UnsupportedError,
                rwkvrt.ModelMismatchError, rwkvrt.CorruptStateError, rwkvrt.TokenError, rwkvrt.OutOfMemoryError,
                rwkvrt.InternalError):
        assert issubclass(cls, rwkvrt.Error) and cls.status.startswith("RWKVRT_ERR_")


@contextlib.contextmanager
def raises(cls, status, match=None):
    """pytest.raises that also checks the status name and that the library gave a message."""
    with pytest.raises(cls, match=match) as info:
        yield info
    assert info.value.status == status
    assert str(info.value)


# --- models ---

def test_missing_model_file(tmp_path):
    with raises(rwkvrt.FileError, "RWKVRT_ERR_IO", match="no-such.pth"):
        rwkvrt.Model(tmp_path / "no-such.pth")


def test_not_a_model_file(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"this is not a model" * 10)
    with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT"):
        rwkvrt.Model(tmp_path / "junk.pth")


def test_truncated_model_file(tmp_path, model):
    with open(model.path, "rb") as f:
        (tmp_path / "cut.pth").write_bytes(f.read(4096))
    with pytest.raises((rwkvrt.FormatError, rwkvrt.CorruptStateError)):
        rwkvrt.Model(tmp_path / "cut.pth")


def test_checkpoint_of_an_unknown_architecture(tmp_path):
    body = np.zeros(4, dtype=np.float32).tobytes()
    header = json.dumps({"foo": {"dtype": "F32", "shape": [4], "data_offsets": [0, len(body)]}}).encode()
    (tmp_path / "x.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + body)
    with raises(rwkvrt.UnsupportedError, "RWKVRT_ERR_UNSUPPORTED", match="emb.weight"):
        rwkvrt.Model(tmp_path / "x.safetensors")


def test_bad_load_options(model):
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="weight_type"):
        rwkvrt.Model(model.path, weight_type="int3")
    with pytest.raises(TypeError):
        rwkvrt.Model(model.path, 4)  # options are keyword-only


# --- feeding ---

def test_token_out_of_range_leaves_the_state_unchanged(model):
    state = model.new_state()
    model.feed(state, PROMPT_IN)
    before = bytes(state)
    for bad in ([1, 256], [-1], 1000, [2**31], [2**40], 2**70, [2**70], [2**63], np.array([2**64 - 1], np.uint64)):
        with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN"):
            model.feed(state, bad)
    assert bytes(state) == before


def test_tokens_of_the_wrong_type(model):
    state = model.new_state()
    for bad in ([1.5, 2.0], "hello", [[1, 2], [3, 4]], [None], True, [True, False]):
        with pytest.raises(TypeError):
            model.feed(state, bad)


def test_strided_token_arrays_are_read_in_order(model):
    # Views with strides (every other id, a column, reversed) are the ids they show, not the memory
    # under their first element.
    ids = np.arange(65, 85, dtype=np.int64)
    grid = ids.reshape(4, 5)
    for view in (ids[::2], ids[::-1], grid[:, 0], grid[1, ::2], ids.astype(np.int32)[::3]):
        expected = model.feed(model.new_state(), view.tolist())
        assert np.array_equal(model.feed(model.new_state(), view), expected)
    tokenizer = rwkvrt.Tokenizer.byte_level()
    assert tokenizer.decode(ids[::2]) == "ACEGIKMOQS"
    assert tokenizer.decode(np.array([66, 65], dtype=np.int64)[::-1]) == "AB"


def test_none_for_a_model_or_a_state(model, tmp_path):
    # pybind11 passes None as a null holder unless told not to: these had crashed the process.
    calls = [lambda: rwkvrt.State(None), lambda: rwkvrt.State.from_bytes(None, b"x"),
             lambda: rwkvrt.State.load(None, tmp_path / "s"), lambda: rwkvrt.State.load_initial(None, tmp_path / "s"),
             lambda: rwkvrt.PrefixCache(None), lambda: model.generate(None, "ab")]
    for call in calls:
        with pytest.raises(TypeError):
            call()


def test_empty_paths():
    # os.path.abspath("") is the current folder, which had been loaded instead.
    for load in (rwkvrt.Model, rwkvrt.Tokenizer):
        with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="the path is empty"):
            load("")


def test_no_tokens(model):
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT"):
        model.feed(model.new_state(), [])


def test_state_of_another_model(model, other_model):
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        other_model.feed(model.new_state(), PROMPT_IN)
    # Two loads of one file are two models: a state is fed only by its own.
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        rwkvrt.Model(model.path).feed(model.new_state(), PROMPT_IN)


# --- snapshots and state files ---

def test_snapshot_of_another_model(model, other_model):
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH", match="rwkv6"):
        rwkvrt.State.from_bytes(other_model, bytes(model.new_state()))


def test_damaged_snapshot_leaves_the_state_unchanged(model):
    state = model.new_state()
    model.feed(state, PROMPT_IN)
    good = bytes(state)
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x10
    with raises(rwkvrt.CorruptStateError, "RWKVRT_ERR_CORRUPT"):
        state.restore(damaged)
    with raises(rwkvrt.CorruptStateError, "RWKVRT_ERR_CORRUPT"):
        state.restore(good[: len(good) - 100])
    assert bytes(state) == good


def test_bytes_that_are_no_snapshot(model):
    for junk in (b"", b"hello", b"\x00" * 1000):
        with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT"):
            rwkvrt.State.from_bytes(model, junk)
    with pytest.raises(TypeError):
        rwkvrt.State.from_bytes(model, "text is not bytes")


def test_state_file_errors(model, other_model, tmp_path):
    with raises(rwkvrt.FileError, "RWKVRT_ERR_IO"):
        rwkvrt.State.load(model, tmp_path / "missing.state")
    with raises(rwkvrt.FileError, "RWKVRT_ERR_IO"):
        model.new_state().save(tmp_path / "no-such-folder" / "x.state")
    (tmp_path / "junk.state").write_bytes(b"junk" * 100)
    with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT"):
        rwkvrt.State.load(model, tmp_path / "junk.state")
    model.new_state().save(tmp_path / "good.state")
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        rwkvrt.State.load(other_model, tmp_path / "good.state")
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT"):
        model.new_state().save(tmp_path / "x.state", value_type="f8")


def test_not_a_state_tuning_file(model):
    with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT", match="time_state"):
        rwkvrt.State.load_initial(model, model.path)


# --- tokenizers ---

def test_tokenizer_errors(tmp_path):
    with raises(rwkvrt.FileError, "RWKVRT_ERR_IO"):
        rwkvrt.Tokenizer(tmp_path / "missing.txt")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01\x02 not a tokenizer")
    with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT"):
        rwkvrt.Tokenizer(tmp_path / "junk.bin")
    tok = rwkvrt.Tokenizer.byte_level()
    with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN", match="256"):
        tok.decode([65, 256])
    with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN"):
        tok.token_bytes(-1)
    with pytest.raises(TypeError):
        tok.encode(12)


# --- sampling and generation ---

def test_sampler_errors(model):
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="temperature"):
        rwkvrt.Sampler(256, temperature=-1)
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="top_p"):
        rwkvrt.Sampler(256, top_p=1.5)
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT"):
        rwkvrt.Sampler(0)
    sampler = rwkvrt.Sampler(256)
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="256"):
        sampler.sample(np.zeros(255, dtype=np.float32))
    logits = np.zeros(256, dtype=np.float32)
    logits[3] = np.nan
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT"):
        sampler.sample(logits)
    with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN"):
        sampler.accept([300])
    with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN"):
        sampler.set_logit_bias(256, 1.0)
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        rwkvrt.Sampler(100).restore(bytes(sampler))
    with raises(rwkvrt.FormatError, "RWKVRT_ERR_FORMAT"):
        rwkvrt.Sampler.from_bytes(256, b"junk")


def test_generate_errors(model, other_model, world_tokenizer):
    state = model.new_state()
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH", match="65536"):
        model.generate(state, "Hi", tokenizer=world_tokenizer)
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        model.generate(state, "Hi", sampler=rwkvrt.Sampler(65536))
    with raises(rwkvrt.ModelMismatchError, "RWKVRT_ERR_MISMATCH"):
        other_model.generate(state, "Hi")
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="not both"):
        model.generate(state, "Hi", sampler=rwkvrt.Sampler(256), temperature=0.5)
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="max_tokens"):
        model.generate(state, "Hi", max_tokens=-1)
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="stop"):
        model.generate(state, "Hi", stop=["\n", ""])
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT"):
        model.generate(state, "")  # nothing to continue from
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="not both"):
        model.generate(state, "Hi", logits=np.zeros(256, dtype=np.float32))
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="256"):
        model.generate(state, None, logits=np.zeros(10, dtype=np.float32))
    with raises(rwkvrt.TokenError, "RWKVRT_ERR_TOKEN"):
        model.generate(state, [1, 999])
    with raises(rwkvrt.ArgumentError, "RWKVRT_ERR_ARGUMENT", match="end_token"):
        model.generate(state, "Hi", end_token=256)
    # None of the failed calls fed anything, the token prompt included.
    assert state.n_tokens == 0
