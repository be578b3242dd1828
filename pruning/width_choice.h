#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "pruning/dependency.h"

namespace shears::pruning {

/// The layers a group's free width c sits between: conv(in_channels -> c, kernel, stride) on an
/// (in_channels, height * stride, width * stride) input, batch norm, ReLU, then conv(c ->
/// out_channels, out_kernel, or kernel when 0) at (height, width). For a ResNet block's inner
/// width, exactly its layers.
struct WidthSite {
  std::int64_t in_channels = 16, out_channels = 16, height = 32, width = 32;
  int kernel = 3, stride = 1, out_kernel = 0;
  std::string key() const;
};

/// Median latency (ms) of `site`'s layers at every width of `widths`, on the machine and at the
/// batch the run deploys to. The runner supplies it (app/width_table.h measures once per machine
/// and layer shape and caches); tests inject a fake table.
using WidthLatencyFn = std::function<std::map<std::int64_t, double>(
    const WidthSite& site, const std::vector<std::int64_t>& widths)>;

/// The width to keep when pruning asks for `wanted` channels and up to `cap` are allowed: the
/// fastest width of `latency` in [wanted, cap], preferring the larger of widths within
/// `tolerance` (relative) of the fastest, so that a width slower than a slightly larger one is
/// never chosen. Widths absent from the table are not candidates; `wanted` is returned when none
/// is in range.
std::int64_t choose_width(const std::map<std::int64_t, double>& latency, std::int64_t wanted,
                          std::int64_t cap, double tolerance = 0.02);

/// The largest width round_to: auto may keep for `wanted` of `full` channels: the next multiple
/// of 8 at or above `wanted`, plus 8, at most `full`.
std::int64_t auto_width_cap(std::int64_t wanted, std::int64_t full);

/// round_to: auto for the groups of one traced model: each group's kept width chosen by
/// choose_width from the latency table of its site (its first conv producer and the first conv
/// that consumes it), candidates wanted..auto_width_cap. Groups without such a site (a linear
/// producer or consumer) keep the nearest multiple of 8 instead (round_to: 8). Choices are
/// memoised per (site, wanted, size).
class WidthChooser {
 public:
  /// Throws ConfigError naming `where` (the round_to key's location) when `latency` is unset.
  WidthChooser(nn::Module& model, const Shape& input_chw, WidthLatencyFn latency,
               const std::string& where = "prune.round_to");

  /// The site of `group`, or false when it has no conv producer with a conv consumer.
  bool site(const Group& group, WidthSite* out) const;
  /// The width to keep of `group` (`size` channels, of which at most `max_kept` may be kept)
  /// when its ratio keeps `wanted`.
  std::int64_t kept(const Group& group, std::int64_t size, std::int64_t wanted) const;

 private:
  struct Shapes {
    Shape weight, input, output;  // weight; input and output per sample (C, H, W)
  };
  std::map<std::string, Shapes> convs_;  // conv weight name -> its shapes
  WidthLatencyFn latency_;
  mutable std::map<std::string, std::int64_t> memo_;
};

}  // namespace shears::pruning
