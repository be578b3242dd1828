#include "data/cifar.h"

#include <cstring>

#include "data/file_io.h"

namespace shears::data {

namespace {

const char* variant_name(CifarVariant v) {
  return v == CifarVariant::Cifar10 ? "CIFAR-10" : "CIFAR-100";
}

// Accepts the batch directory itself or the parent the official archive unpacks into.
std::string resolve_directory(const CifarOptions& o) {
  SHEARS_CHECK_AS(DataError, !o.root.empty(), variant_name(o.variant), ": no root directory given");
  const char* sub =
      o.variant == CifarVariant::Cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary";
  const std::string nested = join_path(o.root, sub);
  if (is_directory(nested)) return nested;
  SHEARS_CHECK_AS(DataError, is_directory(o.root), variant_name(o.variant),
                  ": missing directory: ", o.root);
  return o.root;
}

std::vector<std::string> names_or_numbers(const std::string& path, int count) {
  if (is_file(path)) {
    auto names = read_lines(path);
    SHEARS_CHECK_AS(DataError, static_cast<int>(names.size()) == count, path, ": expected ", count,
                    " class names, found ", names.size());
    return names;
  }
  std::vector<std::string> numbers;
  for (int i = 0; i < count; ++i) numbers.push_back(std::to_string(i));
  return numbers;
}

}  // namespace

std::vector<std::string> cifar_default_files(CifarVariant variant, Split split) {
  if (variant == CifarVariant::Cifar100) {
    return {split == Split::Train ? "train.bin" : "test.bin"};
  }
  if (split == Split::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
          "data_batch_5.bin"};
}

CifarDataset::CifarDataset(const CifarOptions& options) : options_(options) {
  const bool c100 = options.variant == CifarVariant::Cifar100;
  SHEARS_CHECK_AS(DataError, c100 || !options.coarse_labels,
                  "CIFAR-10 has no coarse labels (coarse_labels is a CIFAR-100 option)");
  directory_ = resolve_directory(options);
  const auto files =
      options.files.empty() ? cifar_default_files(options.variant, options.split) : options.files;
  SHEARS_CHECK_AS(DataError, !files.empty(), variant_name(options.variant), ": no batch files");

  // Check every listed file before reading any, so the error names the first missing one
  // without reading gigabytes first.
  std::vector<std::string> paths;
  for (const auto& f : files) {
    paths.push_back(f.empty() || f.front() == '/' ? f : join_path(directory_, f));
    SHEARS_CHECK_AS(DataError, is_file(paths.back()), variant_name(options.variant),
                    ": missing file: ", paths.back());
  }

  const std::size_t header = c100 ? 2 : 1;
  const std::size_t record = header + kImageBytes;
  const int fine_classes = c100 ? 100 : 10;
  for (const auto& path : paths) {
    const auto bytes = read_file(path);
    SHEARS_CHECK_AS(DataError, !bytes.empty() && bytes.size() % record == 0, path, ": size ",
                    bytes.size(), " bytes is not a whole number of ", record, "-byte ",
                    variant_name(options.variant), " records");
    const std::size_t n = bytes.size() / record;
    const std::size_t base = labels_.size();
    planes_.resize((base + n) * kImageBytes);
    labels_.resize(base + n);
    if (c100) coarse_.resize(base + n);
    for (std::size_t r = 0; r < n; ++r) {
      const std::uint8_t* rec = bytes.data() + r * record;
      const std::uint8_t fine = rec[header - 1];
      SHEARS_CHECK_AS(DataError, fine < fine_classes, path, ": record ", r, " has label ",
                      static_cast<int>(fine), ", outside [0, ", fine_classes, ")");
      labels_[base + r] = fine;
      if (c100) {
        SHEARS_CHECK_AS(DataError, rec[0] < 20, path, ": record ", r, " has coarse label ",
                        static_cast<int>(rec[0]), ", outside [0, 20)");
        coarse_[base + r] = rec[0];
      }
      std::memcpy(planes_.data() + (base + r) * kImageBytes, rec + header, kImageBytes);
    }
  }

  if (c100) {
    num_classes_ = options.coarse_labels ? 20 : 100;
    class_names_ =
        names_or_numbers(join_path(directory_, options.coarse_labels ? "coarse_label_names.txt"
                                                                     : "fine_label_names.txt"),
                         num_classes_);
  } else {
    num_classes_ = 10;
    const std::string meta = join_path(directory_, "batches.meta.txt");
    if (is_file(meta)) {
      class_names_ = names_or_numbers(meta, 10);
    } else {
      class_names_ = {"airplane", "automobile", "bird",  "cat",  "deer",
                      "dog",      "frog",       "horse", "ship", "truck"};
    }
  }
}

Sample CifarDataset::get(std::int64_t index) const {
  check_sample_index(index, size(), variant_name(options_.variant));
  Sample s;
  s.image = Image(kSide, kSide, 3);
  const std::uint8_t* src = planes_.data() + static_cast<std::size_t>(index) * kImageBytes;
  std::uint8_t* dst = s.image.pixels.data();
  for (int p = 0; p < kPlane; ++p) {
    dst[3 * p + 0] = src[p];
    dst[3 * p + 1] = src[kPlane + p];
    dst[3 * p + 2] = src[2 * kPlane + p];
  }
  s.label = label(index);
  return s;
}

std::int64_t CifarDataset::label(std::int64_t index) const {
  check_sample_index(index, size(), variant_name(options_.variant));
  return options_.coarse_labels ? coarse_[static_cast<std::size_t>(index)]
                                : labels_[static_cast<std::size_t>(index)];
}

std::int64_t CifarDataset::fine_label(std::int64_t index) const {
  check_sample_index(index, size(), variant_name(options_.variant));
  return labels_[static_cast<std::size_t>(index)];
}

std::int64_t CifarDataset::coarse_label(std::int64_t index) const {
  check_sample_index(index, size(), variant_name(options_.variant));
  return coarse_.empty() ? labels_[static_cast<std::size_t>(index)]
                         : coarse_[static_cast<std::size_t>(index)];
}

std::string CifarDataset::describe() const {
  return detail::cat(variant_name(options_.variant), " ", split_name(options_.split), " (", size(),
                     " images, ", num_classes_, " classes) from ", directory_);
}

}  // namespace shears::data
