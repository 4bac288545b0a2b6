"""scripts/write_pth.py writes a bf16 .pth without PyTorch, for timing loads of large checkpoints: the file
it writes must load as the official layout does and compute what the checkpoint it came from computes."""

import subprocess
import sys

import numpy as np
import rwkvrt

from conftest import PROMPT_IN, REPO, data, reference_logits


def test_written_pth_loads_and_matches_the_reference(tmp_path):
    out = tmp_path / "tiny-bf16.pth"
    src = data("safetensors/tiny-rwkv-7v0-834K-fp32.safetensors")
    subprocess.run([sys.executable, str(REPO / "scripts" / "write_pth.py"), str(src), str(out)], check=True)
    written, official = rwkvrt.Model(out), rwkvrt.Model(data("pth/tiny-rwkv-7v0-834K-bf16.pth"))
    assert written.weight_type == "bf16"
    assert (written.arch, written.n_layer, written.n_embd) == (official.arch, official.n_layer, official.n_embd)
    logits = written.feed(written.new_state(), PROMPT_IN)
    # The tiny model was trained in bf16 and saved as fp32: cutting its weights to bf16 loses nothing, so
    # the logits are the reference's within the fp32 tolerance of test_reference.py.
    assert np.abs(logits - reference_logits("7v0-834K")).max() < 1e-3
