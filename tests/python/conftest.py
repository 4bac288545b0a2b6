"""Shared fixtures: the test data beside the repository (../shared/testdata) and the tiny models."""

import os
from pathlib import Path

import numpy as np
import pytest

import rwkvrt

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO.parent / "shared" / "testdata"
PROMPT_IN = [34, 105, 110]  # the bytes '"in', after which the reference logits were computed
TINY7 = "pth/tiny-rwkv-7v0-834K-fp32.pth"
TINY6 = "pth/tiny-rwkv-6v0-3m-fp32.pth"


def data(rel: str) -> Path:
    """A file of the shared test data. When the folder is absent the test fails under CI (CI set) and
    is skipped, saying why, elsewhere."""
    if not TESTDATA.is_dir():
        if os.environ.get("CI", "") not in ("", "0", "false"):
            pytest.fail(f"test data folder {TESTDATA} is absent under CI")
        pytest.skip(f"test data folder {TESTDATA} is absent")
    return TESTDATA / rel


def reference_logits(version: str) -> np.ndarray:
    return np.fromfile(data(f"reference/expected-logits-{version}.bin"), dtype=np.float32)


@pytest.fixture(scope="session")
def model() -> rwkvrt.Model:
    """The tiny RWKV-7 model (vocabulary of 256 bytes), shared by the tests that only read it."""
    return rwkvrt.Model(data(TINY7))


@pytest.fixture(scope="session")
def other_model() -> rwkvrt.Model:
    """A model of another shape (the tiny RWKV-6)."""
    return rwkvrt.Model(data(TINY6))


@pytest.fixture(scope="session")
def world_tokenizer() -> rwkvrt.Tokenizer:
    return rwkvrt.Tokenizer(data("tokenizers/rwkv_vocab_v20230424.txt"))
