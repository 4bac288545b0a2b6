#!/usr/bin/env python3
"""Writes a .safetensors checkpoint (F32 or BF16 tensors) as a bf16 PyTorch .pth, the layout of the
official RWKV releases, without PyTorch: a ZIP of stored entries, <name>/data.pkl (a dict of
torch._utils._rebuild_tensor_v2 calls) and one <name>/data/<key> per tensor.

`rwkvrt bench` on its output times loading a bf16 .pth at sizes no test file has (docs/PERFORMANCE.md). F32 is cut to bf16 by
dropping the low 16 bits (no rounding): the values only have to be finite.

    python3 scripts/write_pth.py model.safetensors model-bf16.pth
"""
import json
import pickle
import struct
import sys
import types
import zipfile

# Stand-ins for the torch names the pickle refers to: pickle records a global by module and name.
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


class BFloat16Storage:
    pass


def _rebuild_tensor_v2(*args):
    raise RuntimeError("only pickled, never called")


BFloat16Storage.__module__ = "torch"
_rebuild_tensor_v2.__module__ = "torch._utils"
torch.BFloat16Storage = BFloat16Storage
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, tuple(shape)

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return _rebuild_tensor_v2, (self.storage, 0, self.shape, tuple(stride), False, {})


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", BFloat16Storage, obj.key, "cpu", obj.numel)
        return None


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            raw = f.read(end - begin)
            if info["dtype"] == "F32":
                bf16 = bytearray(len(raw) // 2)
                bf16[0::2] = raw[2::4]
                bf16[1::2] = raw[3::4]
                raw = bytes(bf16)
            elif info["dtype"] != "BF16":
                sys.exit(f"{path}: tensor '{name}' is {info['dtype']}; only F32 and BF16 are written")
            yield name, info["shape"], raw


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    folder = "archive"
    state = {}
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, (name, shape, raw) in enumerate(read_safetensors(src)):
            with z.open(f"{folder}/data/{key}", "w", force_zip64=True) as out:
                out.write(raw)
            state[name] = Tensor(Storage(str(key), len(raw) // 2), shape)
        z.writestr(f"{folder}/byteorder", "little")
        z.writestr(f"{folder}/version", "3\n")
        with z.open(f"{folder}/data.pkl", "w") as out:
            Pickler(out, protocol=2).dump(state)


if __name__ == "__main__":
    main()
