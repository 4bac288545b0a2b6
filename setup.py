"""Builds the Python package rwkvrt with the project's own CMake build.

setuptools runs CMake (RWKVRT_BUILD_PYTHON=ON), which compiles the extension module rwkvrt._rwkvrt
and the shared library librwkvrt it links, then installs both into the package directory, where the
module finds the library beside itself. The C and C++ dependencies (xxHash,
sentencepiece, nlohmann-json, Highway) and CMake itself come from the system: see docs/PYTHON.md.

Environment: CMAKE_ARGS adds arguments to the CMake configure step; CMAKE_BUILD_PARALLEL_LEVEL sets the
number of compile jobs. RWKVRT_CMAKE_BUILD names an existing CMake build tree configured with
RWKVRT_BUILD_PYTHON=ON for this interpreter: it is used as it is (brought up to date, not reconfigured),
so that scripts/test.sh compiles the library once for its C++ and Python tests.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def header_version() -> str:
    """MAJOR.MINOR.PATCH from include/rwkvrt.h, the one place the version is written."""
    header = (ROOT / "include" / "rwkvrt.h").read_text(encoding="utf-8")
    return ".".join(re.search(rf"#define RWKVRT_VERSION_{part} (\d+)", header).group(1)
                    for part in ("MAJOR", "MINOR", "PATCH"))


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        package_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        # Kept between builds, so that a re-install recompiles only what changed.
        build_dir = Path(self.build_temp).resolve() / "cmake"
        configure = [
            f"-DCMAKE_BUILD_TYPE={'Debug' if self.debug else 'Release'}",
            "-DRWKVRT_BUILD_PYTHON=ON", "-DRWKVRT_BUILD_TESTS=OFF", "-DRWKVRT_BUILD_TOOLS=OFF",
            "-DRWKVRT_BUILD_EXAMPLES=OFF",
            # pybind11 must build for the interpreter running this build, not the first python on PATH.
            f"-DPYTHON_EXECUTABLE={sys.executable}",
        ]
        try:
            import pybind11
            configure.append(f"-Dpybind11_DIR={pybind11.get_cmake_dir()}")
        except (ImportError, AttributeError, RuntimeError):
            pass  # CMake then searches the system (e.g. Debian's pybind11-dev)
        if "CMAKE_GENERATOR" not in os.environ and shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        configure += os.environ.get("CMAKE_ARGS", "").split()
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))

        prebuilt = os.environ.get("RWKVRT_CMAKE_BUILD")
        if prebuilt:
            build_dir = Path(prebuilt).resolve()
        else:
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *configure], check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_rwkvrt", "--parallel", jobs], check=True)
        # The component "python" installs the module and the library into <prefix>/rwkvrt.
        subprocess.run(["cmake", "--install", str(build_dir), "--component", "python",
                        "--prefix", str(package_dir.parent)], check=True)


setup(
    version=header_version(),
    ext_modules=[CMakeExtension("rwkvrt._rwkvrt")],
    cmdclass={"build_ext": CMakeBuild},
    # Not build/: that is where scripts/test.sh keeps the C++ build.
    options={"build": {"build_base": "build-python"}},
    zip_safe=False,
)
