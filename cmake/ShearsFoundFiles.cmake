# Writes ${CMAKE_BINARY_DIR}/found-files.txt: every file and directory that configuration found
# outside the source tree, one "origin<TAB>path" line each. scripts/check-deps reads it to prove
# that each one comes from a package scripts/deps.sh installs (or from the CUDA toolkit), so a
# package that only happens to be on this machine cannot hide a missing install step.
#
# Origins: cache entries (*_LIBRARY*, *_INCLUDE_DIR*, *_DIR), package-config files
# (<Package>_CONFIG), pkg-config results (<prefix>_LINK_LIBRARIES / _INCLUDE_DIRS) and the
# locations, include directories and link libraries of every imported target.

function(_shears_found_add out origin path)
  if(NOT IS_ABSOLUTE "${path}" OR path MATCHES "^\\$<" OR path MATCHES "-NOTFOUND$")
    return()
  endif()
  cmake_path(IS_PREFIX CMAKE_SOURCE_DIR "${path}" NORMALIZE _inside_source)
  cmake_path(IS_PREFIX CMAKE_BINARY_DIR "${path}" NORMALIZE _inside_build)
  if(_inside_source OR _inside_build)
    return()
  endif()
  set(${out} "${${out}}${origin}\t${path}\n" PARENT_SCOPE)
endfunction()

function(shears_write_found_files)
  set(lines "")
  get_cmake_property(cache_vars CACHE_VARIABLES)
  foreach(var IN LISTS cache_vars)
    if(var MATCHES "^CMAKE_")
      continue()
    endif()
    get_property(type CACHE "${var}" PROPERTY TYPE)
    if((type STREQUAL "FILEPATH" OR type STREQUAL "PATH" OR type STREQUAL "UNINITIALIZED"
        OR type STREQUAL "INTERNAL")
       AND var MATCHES "(_LIBRARY|_LIBRARIES|_INCLUDE_DIR|_INCLUDE_DIRS|_DIR|_CONFIG)(_[A-Z]+)?$")
      foreach(path IN LISTS ${var} CACHE{${var}})
        _shears_found_add(lines "cache:${var}" "${path}")
      endforeach()
    endif()
  endforeach()
  # Package-config files found in config mode, and pkg-config results (normal variables).
  get_cmake_property(vars VARIABLES)
  foreach(var IN LISTS vars)
    if(var MATCHES "^CMAKE_" OR var MATCHES "^_")
      continue()
    endif()
    if(var MATCHES "_CONFIG$" OR var MATCHES "_(LINK_LIBRARIES|INCLUDE_DIRS)$")
      foreach(path IN LISTS ${var})
        _shears_found_add(lines "variable:${var}" "${path}")
      endforeach()
    endif()
  endforeach()
  get_directory_property(targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(target IN LISTS targets)
    foreach(prop IMPORTED_LOCATION IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_NOCONFIG
                 IMPORTED_LOCATION_RELWITHDEBINFO INTERFACE_INCLUDE_DIRECTORIES
                 INTERFACE_LINK_LIBRARIES)
      get_target_property(values ${target} ${prop})
      if(values)
        foreach(path IN LISTS values)
          _shears_found_add(lines "target:${target}:${prop}" "${path}")
        endforeach()
      endif()
    endforeach()
  endforeach()
  file(WRITE "${CMAKE_BINARY_DIR}/found-files.txt" "${lines}")
endfunction()
