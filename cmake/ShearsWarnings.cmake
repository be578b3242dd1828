# shears_warnings: an interface target carrying the project's warning flags.
add_library(shears_warnings INTERFACE)
target_compile_options(shears_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${SHEARS_WERROR}>>:-Werror>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${SHEARS_WERROR}>>:-Werror=all-warnings>)

# shears_add_library(NAME DIR): a static library from every source in DIR (non-recursive).
function(shears_add_library name dir)
  file(GLOB _srcs CONFIGURE_DEPENDS ${dir}/*.cpp)
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${SHEARS_ROOT})
  target_link_libraries(${name} PRIVATE shears_warnings)
endfunction()
