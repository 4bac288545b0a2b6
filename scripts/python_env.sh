# Sourced by scripts/test.sh: a virtual environment with the rwkvrt Python package installed.
# It runs Debian's /usr/bin/python3 with --system-site-packages, so building needs no package index:
# setuptools, wheel, pybind11, numpy and pytest come from the Debian packages of scripts/deps.sh.
# (The python3 first on PATH may be another interpreter, without them.)
_rwkvrt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RWKVRT_VENV=${RWKVRT_VENV:-$_rwkvrt_root/.venv}

# Creates the environment if missing, then (re)installs the package from the working tree. CMake's
# build tree persists under build-python/, so a re-install compiles only what changed.
python_env_install() {
  if [ ! -x "$RWKVRT_VENV/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$RWKVRT_VENV"
  fi
  (cd "$_rwkvrt_root" &&
    "$RWKVRT_VENV/bin/python" -m pip install --quiet --no-index --no-build-isolation --no-deps \
      --disable-pip-version-check .)
}
