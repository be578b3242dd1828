# shears_add_library(NAME DIR... [RECURSE] [CUDA] [EXCLUDE FILE...])
#
# The static library of one layer (or part of one): every .cpp in each DIR (its subfolders too
# with RECURSE; .cu files too with CUDA), less the EXCLUDE files. The repository root is its
# public include directory (every include names its layer) and it builds with the project's
# warnings (shears_warnings, cmake/ShearsWarnings.cmake). Each layer's CMakeLists.txt adds its
# own dependencies with target_link_libraries.
function(shears_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "RECURSE;CUDA" "" "EXCLUDE")
  set(_patterns *.cpp)
  if(arg_CUDA)
    list(APPEND _patterns *.cu)
  endif()
  set(_srcs)
  foreach(dir IN LISTS arg_UNPARSED_ARGUMENTS)
    foreach(pattern IN LISTS _patterns)
      if(arg_RECURSE)
        file(GLOB_RECURSE _found CONFIGURE_DEPENDS ${dir}/${pattern})
      else()
        file(GLOB _found CONFIGURE_DEPENDS ${dir}/${pattern})
      endif()
      list(APPEND _srcs ${_found})
    endforeach()
  endforeach()
  foreach(file IN LISTS arg_EXCLUDE)
    list(REMOVE_ITEM _srcs ${file})
  endforeach()
  if(NOT _srcs)
    message(FATAL_ERROR "shears_add_library(${name}): no sources in ${arg_UNPARSED_ARGUMENTS}")
  endif()
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${SHEARS_ROOT})
  target_link_libraries(${name} PRIVATE shears_warnings)
endfunction()
