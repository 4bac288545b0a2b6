# Sourced by scripts/test.sh: a virtual environment with the rwkvrt Python package installed.
# It runs Debian's /usr/bin/python3 with --system-site-packages, so building needs no package index:
# setuptools, wheel, pybind11, numpy and pytest come from the Debian packages of scripts/deps.sh.
# (The python3 first on PATH may be another interpreter, without them.)
_rwkvrt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RWKVRT_VENV=${RWKVRT_VENV:-$_rwkvrt_root/.venv}

# The interpreter the module is built for and the environment runs.
RWKVRT_PYTHON=/usr/bin/python3

# Creates the environment if missing, then (re)installs the package from the working tree.
#   python_env_install            CMake builds the module in build-python/ (kept, so a re-install
#                                 compiles only what changed)
#   python_env_install BUILD_DIR  the module comes from an existing CMake build configured with
#                                 -DRWKVRT_BUILD_PYTHON=ON -DPYTHON_EXECUTABLE=$RWKVRT_PYTHON
python_env_install() {
  if [ ! -x "$RWKVRT_VENV/bin/python" ]; then
    "$RWKVRT_PYTHON" -m venv --system-site-packages "$RWKVRT_VENV"
  fi
  local prebuilt=""
  [ -n "${1:-}" ] && prebuilt=$(cd "$1" && pwd)
  (cd "$_rwkvrt_root" &&
    RWKVRT_CMAKE_BUILD=$prebuilt "$RWKVRT_VENV/bin/python" -m pip install --quiet --no-index \
      --no-build-isolation --no-deps --disable-pip-version-check .)
}
