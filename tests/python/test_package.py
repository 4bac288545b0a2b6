"""The installed package: its version, its typing files, its library beside the module."""

import re
from pathlib import Path

import rwkvrt
from conftest import REPO


def test_version_comes_from_the_header():
    header = (REPO / "include" / "rwkvrt.h").read_text()
    parts = [re.search(rf"#define RWKVRT_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    assert rwkvrt.__version__ == ".".join(parts)


def test_system_info_names_the_kernels_levels():
    info = rwkvrt.system_info()
    assert info.startswith("kernels: ")
    assert "; int8 products: " in info and "; bf16 products: " in info


def test_package_ships_types_and_its_library():
    package = Path(rwkvrt.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_rwkvrt.pyi").is_file()
    assert list(package.glob("librwkvrt.so*")) or list(package.glob("librwkvrt*.dylib"))


def test_public_names_have_docstrings():
    for name in rwkvrt.__all__:
        obj = getattr(rwkvrt, name)
        if isinstance(obj, type):
            assert obj.__doc__, name
    for method in (rwkvrt.Model.feed, rwkvrt.Model.generate, rwkvrt.State.save, rwkvrt.State.load,
                   rwkvrt.Tokenizer.encode, rwkvrt.Sampler.sample):
        assert "Args" in method.__doc__ or len(method.__doc__) > 40
