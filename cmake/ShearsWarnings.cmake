# shears_warnings: an interface target carrying the project's warning flags.
add_library(shears_warnings INTERFACE)
target_compile_options(shears_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${SHEARS_WERROR}>>:-Werror>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${SHEARS_WERROR}>>:-Werror=all-warnings>)
