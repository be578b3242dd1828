# Installs the Debian packages shears builds and tests with, when any is missing.
# Sourced by scripts/test and scripts/quickstart.
SHEARS_APT_PACKAGES=(
  build-essential cmake pkg-config git
  libdnnl-dev libopenblas-dev libomp-dev
  libyaml-cpp-dev nlohmann-json3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  chromium
)

shears_install_deps() {
  local missing=()
  for pkg in "${SHEARS_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "shears: installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# Configures and builds into $1 (Release, warnings on) with any extra CMake arguments.
shears_build() {
  local build_dir=$1
  shift
  cmake -S "$SHEARS_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@"
  cmake --build "$build_dir" -j "$(nproc)"
}
