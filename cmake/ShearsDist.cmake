# Decides which communicator plugins are built (docs/distributed.md). SHEARS_MPI=AUTO builds
# libshears_dist_mpi.so when Open MPI's development files are found; SHEARS_NCCL=AUTO builds
# libshears_dist_nccl.so when the CUDA backend is built and nccl.h / libnccl are found beside
# the toolkit (as cuDNN is). ON fails configuration naming what is missing; OFF skips it. The
# plugins are loaded at run time only under a launcher, so the shears executable itself never
# links MPI or NCCL.
set(SHEARS_MPI AUTO CACHE STRING "Build the MPI communicator plugin: AUTO, ON or OFF")
set_property(CACHE SHEARS_MPI PROPERTY STRINGS AUTO ON OFF)
set(SHEARS_NCCL AUTO CACHE STRING "Build the NCCL communicator plugin: AUTO, ON or OFF")
set_property(CACHE SHEARS_NCCL PROPERTY STRINGS AUTO ON OFF)

set(SHEARS_WITH_MPI OFF)
if(NOT SHEARS_MPI STREQUAL "OFF")
  find_package(MPI QUIET COMPONENTS C)
  if(MPI_C_FOUND)
    set(SHEARS_WITH_MPI ON)
  elseif(SHEARS_MPI STREQUAL "ON")
    message(FATAL_ERROR "SHEARS_MPI=ON but no MPI C library was found (install libopenmpi-dev)")
  endif()
endif()

set(SHEARS_WITH_NCCL OFF)
if(NOT SHEARS_NCCL STREQUAL "OFF")
  if(SHEARS_WITH_CUDA)
    find_path(NCCL_INCLUDE_DIR nccl.h
      HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}/include $ENV{NCCL_ROOT}/include
      PATH_SUFFIXES include)
    find_library(NCCL_LIBRARY nccl
      HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}/lib64 $ENV{NCCL_ROOT}/lib
      PATH_SUFFIXES lib lib64)
    if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
      set(SHEARS_WITH_NCCL ON)
    endif()
  endif()
  if(NOT SHEARS_WITH_NCCL AND SHEARS_NCCL STREQUAL "ON")
    message(FATAL_ERROR "SHEARS_NCCL=ON but the CUDA backend or nccl.h / libnccl was not found")
  endif()
endif()

find_program(SHEARS_MPIRUN NAMES mpirun mpiexec)
set(_shears_comms "local")
if(SHEARS_WITH_MPI)
  string(APPEND _shears_comms " + MPI (${MPI_C_LIBRARIES})")
endif()
if(SHEARS_WITH_NCCL)
  string(APPEND _shears_comms " + NCCL (${NCCL_LIBRARY})")
endif()
message(STATUS "shears communicators: ${_shears_comms}")
