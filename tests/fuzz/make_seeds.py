#!/usr/bin/env python3
"""Writes the small hand-made seed inputs of the fuzz targets into corpus/<target>/seed-*: one valid
file per format (a few tensors of several types, a short vocabulary), which the fuzzer then mutates.
The state targets' seeds come from real state files instead (fuzz_state_seeds, run by
scripts/fuzz.sh). Needs the shared test data (for the World vocabulary) and spm_train.

Usage: make_seeds.py [corpus folder]   (default: the corpus/ beside this script)
"""

import collections
import io
import json
import pickle
import struct
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTDATA = HERE.parents[2] / "shared" / "testdata"


def floats(values, fmt="f"):
    return struct.pack(f"<{len(values)}{fmt}", *values)


def f16(values):
    return floats(values, "e")


def bf16(values):
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def safetensors():
    tensors = {"emb.weight": ("F32", [4, 2], floats([0.5] * 8)), "blocks.0.ln1.weight": ("F16", [2], f16([1, 2])),
               "head.weight": ("BF16", [4, 2], bf16([0.25] * 8))}
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def rwkvcpp_bin():
    out = struct.pack("<6i", 0x67676D66, 101, 4, 32, 1, 0)  # magic, version, n_vocab, n_embd, n_layer, ftype

    def tensor(name, shape, ggml_type, raw):
        return struct.pack(f"<3i{len(shape)}i", len(shape), len(name), ggml_type, *reversed(shape)) + name.encode() + raw

    q8_block = f16([0.1]) + bytes(range(32))
    q5_1_block = f16([0.1, -0.5]) + struct.pack("<I", 0xF0F0F0F0) + bytes(range(16))
    out += tensor("emb.weight", [4, 32], 0, floats([0.5] * 128))
    out += tensor("blocks.0.ln1.weight", [32], 1, f16([1.0] * 32))
    out += tensor("blocks.0.att.key.weight", [1, 32], 9, q8_block)
    out += tensor("blocks.0.att.value.weight", [1, 32], 8, q5_1_block)
    out += tensor("blocks.0.att.time_first", [32], 0, floats([0.0] * 32))
    return out


def pth():
    """A PyTorch zip checkpoint, pickled with stand-ins for the torch globals it names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    sys.modules.update({"torch": torch, "torch._utils": utils})

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__, utils._rebuild_tensor_v2 = "torch._utils", _rebuild_tensor_v2
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    storages = {}
    for kind in ("FloatStorage", "HalfStorage", "BFloat16Storage"):
        cls = type(kind, (), {"__module__": "torch", "__qualname__": kind})
        setattr(torch, kind, cls)
        storages[kind] = cls

    class Storage:
        def __init__(self, kind, key, numel):
            self.kind, self.key, self.numel = kind, key, numel

    class Tensor:
        def __init__(self, storage, offset, shape):
            self.storage, self.offset, self.shape = storage, offset, shape

        def __reduce__(self):
            stride, s = [], 1
            for d in reversed(self.shape):
                stride.insert(0, s)
                s *= d
            return (_rebuild_tensor_v2, (self.storage, self.offset, tuple(self.shape), tuple(stride), False,
                                         collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", storages[obj.kind], obj.key, "cpu", obj.numel)
            return None

    shared = Storage("FloatStorage", "0", 12)
    state = collections.OrderedDict([
        ("emb.weight", Tensor(shared, 0, [4, 2])),
        ("blocks.0.ln1.weight", Tensor(shared, 8, [4])),  # a view into the same storage
        ("blocks.0.att.time_first", Tensor(Storage("HalfStorage", "1", 2), 0, [2])),
        ("head.weight", Tensor(Storage("BFloat16Storage", "2", 4), 0, [2, 2])),
    ])
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", floats([0.5] * 12))
        z.writestr("archive/data/1", f16([1.0, 2.0]))
        z.writestr("archive/data/2", bf16([0.25] * 4))
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def world_vocab():
    lines = (TESTDATA / "tokenizers" / "rwkv_vocab_v20230424.txt").read_text(encoding="utf-8").splitlines()
    # The 256 single bytes (some as bytes literals with escapes), a few words, multi-byte text and the
    # last (longest) entries.
    wide = [l for l in lines[300:] if any(ord(c) > 0x3000 for c in l)][:20]
    return ("\n".join(lines[:300] + wide + lines[-3:]) + "\n").encode()


def bpe_json():
    def byte_symbol(b):  # GPT-2's printable stand-ins for the 256 bytes
        printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        return chr(b) if b in printable else chr(256 + sorted(set(range(256)) - set(printable)).index(b))

    vocab = {byte_symbol(b): b for b in range(256)}
    vocab.update({"ab": 256, "Ġt": 257, "he": 258, "Ġthe": 259})
    doc = {"version": "1.0", "normalizer": {"type": "NFC"},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
           "decoder": {"type": "ByteLevel"},
           "added_tokens": [{"id": 260, "content": "<|endoftext|>", "special": True},
                            {"id": 261, "content": "  ", "special": False, "normalized": True}],
           "model": {"type": "BPE", "dropout": None, "vocab": vocab,
                     "merges": ["a b", "Ġ t", ["h", "e"], "Ġt he"]}}
    return json.dumps(doc, ensure_ascii=False).encode()


def sentencepiece_model():
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("the quick brown fox jumps over the lazy dog\n你好 世界 😀\n" * 50, encoding="utf-8")
        subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={tmp}/m", "--vocab_size=300", "--hard_vocab_limit=false",
                        "--normalization_rule_name=identity", "--byte_fallback=true", "--minloglevel=2"],
                       check=True, capture_output=True)
        return (Path(tmp) / "m.model").read_bytes()


def main():
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    seeds = {"safetensors": safetensors(), "rwkvcpp_bin": rwkvcpp_bin(), "pth": pth(),
             "tokenizer_world": world_vocab(), "tokenizer_bpe": bpe_json(),
             "tokenizer_sentencepiece": sentencepiece_model()}
    for target, data in seeds.items():
        (corpus / target).mkdir(parents=True, exist_ok=True)
        (corpus / target / "seed-valid").write_bytes(data)
        print(f"{target}: {len(data)} bytes")


if __name__ == "__main__":
    main()
