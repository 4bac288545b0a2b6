# Sourced by the scripts: installs the Debian packages the build and tests need, when missing.
# Idempotent; needs root (or sudo) only when something is missing.
RWKVRT_DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-dev libxxhash-dev nlohmann-json3-dev libcli11-dev libhwy-dev
  libsentencepiece-dev sentencepiece doctest-dev
  pybind11-dev python3-dev python3-venv python3-pip python3-wheel python3-setuptools
  python3-pybind11 python3-numpy python3-pytest
  libcpp-httplib-dev libhiredis-dev redis-server nginx curl nodejs
)

ensure_deps() {
  local missing=()
  for p in "${RWKVRT_DEBIAN_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Runs a command with its output kept in a temporary file, shown only if it fails (the scripts print
# a line saying what each long step does instead of compiler progress).
run_quietly() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || cat "$log" >&2
  rm -f "$log"
  return "$status"
}
