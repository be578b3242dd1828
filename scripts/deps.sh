# Installs the Debian packages shears builds and tests with, when any is missing.
# Sourced by scripts/test and scripts/quickstart.
SHEARS_APT_PACKAGES=(
  build-essential cmake pkg-config git
  # oneDNN's CMake config looks for OpenCL, which libdnnl-dev only recommends.
  libdnnl-dev ocl-icd-opencl-dev libopenblas-dev liblapacke-dev libomp-dev
  libyaml-cpp-dev nlohmann-json3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  chromium
  # Distributed runs (docs/distributed.md): OpenMPI's library for the communicator plugin,
  # mpirun for the multi-rank tests.
  libopenmpi-dev openmpi-bin
)

# What the benchmark scripts need besides: Python with venv, for the PyTorch reference that
# scripts/torch-venv installs from PyPI under the build folder.
SHEARS_BENCH_APT_PACKAGES=(python3 python3-venv)

# Installs the given packages (default: SHEARS_APT_PACKAGES) that are not installed yet.
shears_install_deps() {
  local wanted=("$@") missing=()
  ((${#wanted[@]})) || wanted=("${SHEARS_APT_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
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

# Configures $1 (Release, warnings on) with any extra CMake arguments.
shears_configure() {
  local build_dir=$1
  shift
  cmake -S "$SHEARS_ROOT" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@"
}

# Configures and builds into $1 with any extra CMake arguments.
shears_build() {
  shears_configure "$@"
  cmake --build "$1" -j "$(nproc)"
}

# ---- fuzz job only (scripts/test; see docs/reliability.md) -----------------------------------
# Debian's clang and the compiler-rt package that holds libFuzzer and the sanitizer runtimes.
SHEARS_FUZZ_APT_PACKAGES=(clang libclang-rt-14-dev)

shears_install_fuzz_deps() { shears_install_deps "${SHEARS_FUZZ_APT_PACKAGES[@]}"; }
