# Sanitizer and fuzzing builds (see docs/reliability.md).
#
# SHEARS_SANITIZE: a comma-separated -fsanitize= list (e.g. address,undefined) applied to every
# target, halting at the first report. SHEARS_FUZZ=ON (clang only) instruments the libraries for
# libFuzzer, adds AddressSanitizer and UndefinedBehaviorSanitizer, and builds the fuzz targets of
# fuzz/. Both are CPU-only builds: configure them with -DSHEARS_CUDA=OFF.
set(SHEARS_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined")
option(SHEARS_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

if(SHEARS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SHEARS_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  if(SHEARS_SANITIZE STREQUAL "")
    set(SHEARS_SANITIZE "address,undefined")
  endif()
  # Instrumentation can defeat `omp simd` vectorisation; clang reports that as a warning.
  add_compile_options(-fsanitize=fuzzer-no-link -Wno-pass-failed)
endif()

if(NOT SHEARS_SANITIZE STREQUAL "")
  if(SHEARS_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SHEARS_SANITIZE is for CPU builds: configure with -DSHEARS_CUDA=OFF")
  endif()
  set(SHEARS_CUDA OFF CACHE STRING "Build the CUDA backend: AUTO, ON or OFF" FORCE)
  add_compile_options(-fsanitize=${SHEARS_SANITIZE} -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${SHEARS_SANITIZE} -fno-sanitize-recover=all)
  message(STATUS "shears: sanitizers ${SHEARS_SANITIZE}")
endif()
