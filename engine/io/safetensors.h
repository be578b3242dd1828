#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace shears {

/// Named tensors in a chosen order (a state dict, a checkpoint's contents).
using TensorList = std::vector<std::pair<std::string, Tensor>>;

/// Writes `tensors` and string `metadata` to `path` in the safetensors layout:
///   8 bytes   N, the JSON header's length, as little-endian uint64
///   N bytes   JSON object {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
///             ..., "__metadata__": {"<key>": "<value>", ...}}, padded with spaces so that N is
///             a multiple of 8 (as the reference implementation writes it)
///   data      each tensor's contiguous row-major little-endian bytes, in the order given, with
///             offsets [b, e) relative to the start of the data section
/// The dtype strings are F32, F64, I32, I64 and U8. Tensors on another device are copied to the
/// CPU first; autograd state is not stored. `__metadata__` is omitted when `metadata` is empty.
/// The write is atomic (write_file_atomic): a failure leaves any previous file intact.
/// Throws CheckpointError naming the file and tensor for an undefined tensor, an empty or
/// duplicate name, or the reserved name "__metadata__"; shears::Error for I/O failures.
void save_safetensors(const std::string& path, const TensorList& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// What a safetensors file holds.
struct SafetensorsContents {
  /// CPU tensors in data-offset order (empty tensors sharing an offset: by name).
  TensorList tensors;
  std::map<std::string, std::string> metadata;
};

/// Reads a safetensors file written by save_safetensors or by any reference implementation.
/// The file is untrusted: every length, offset and shape is checked before use, so a damaged or
/// hostile file cannot crash the process, read out of bounds or allocate more than its own size
/// (plus the parsed header, at most 100 MB). Rejected, as the reference does: a header length
/// past the file or above 100 MB, a header that is not a JSON object, an entry without a string
/// `dtype`, an array `shape` of non-negative integers and a two-element `data_offsets` with
/// begin <= end, an unsupported dtype, a shape whose element or byte count overflows, a byte range
/// whose size differs from numel * dtype size, ranges that overlap, leave gaps or stop short of
/// the end of the file, and metadata values that are not strings. Fields other than those three
/// in a tensor entry are ignored.
/// Throws CheckpointError naming the file, the tensor or field, and what is wrong.
SafetensorsContents load_safetensors(const std::string& path);

}  // namespace shears
