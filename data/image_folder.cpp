#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/file_io.h"
#include "data/png.h"

namespace shears::data {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

std::string resolve_directory(const ImageFolderOptions& o) {
  SHEARS_CHECK_AS(DataError, !o.root.empty(), "image folder: no root directory given");
  SHEARS_CHECK_AS(DataError, is_directory(o.root), "image folder: missing directory: ", o.root);
  const std::string train = join_path(o.root, "train");
  const std::string val = join_path(o.root, "val");
  const std::string test = join_path(o.root, "test");
  const bool has_splits = is_directory(train) || is_directory(val) || is_directory(test);
  if (!has_splits) return o.root;
  if (o.split == Split::Train) {
    SHEARS_CHECK_AS(DataError, is_directory(train), "image folder: missing directory: ", train);
    return train;
  }
  if (is_directory(val)) return val;
  SHEARS_CHECK_AS(DataError, is_directory(test), "image folder: missing directory: ", val, " (nor ",
                  test, ")");
  return test;
}

}  // namespace

std::vector<ClassIndexEntry> read_class_index(const std::string& path) {
  SHEARS_CHECK_AS(DataError, is_file(path), "missing class-index file: ", path);
  std::ifstream in(path);
  SHEARS_CHECK_AS(DataError, in.good(), "cannot open class-index file ", path);
  std::vector<ClassIndexEntry> entries;
  std::map<std::int64_t, int> index_line;
  std::map<std::string, int> wnid_line;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::istringstream words(line);
    std::string first;
    if (!(words >> first) || first[0] == '#') continue;
    ClassIndexEntry e;
    const bool numeric = std::all_of(first.begin(), first.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) != 0;
    });
    SHEARS_CHECK_AS(DataError, numeric && first.size() <= 9, path, ":", number,
                    ": expected 'index wnid [name]', got '", line, "'");
    e.index = std::stoll(first);
    SHEARS_CHECK_AS(DataError, static_cast<bool>(words >> e.wnid) && e.wnid != "*", path, ":",
                    number, ": expected 'index wnid [name]', got '", line, "'");
    // The rest is the name; a lone '*' marks a staged class and is not part of it.
    std::string word;
    while (words >> word) {
      if (word == "*") continue;
      e.name += (e.name.empty() ? "" : " ") + word;
    }
    if (e.name.empty()) e.name = e.wnid;
    auto [it, fresh] = index_line.emplace(e.index, number);
    SHEARS_CHECK_AS(DataError, fresh, path, ":", number, ": class index ", e.index,
                    " already given on line ", it->second);
    auto [wit, wfresh] = wnid_line.emplace(e.wnid, number);
    SHEARS_CHECK_AS(DataError, wfresh, path, ":", number, ": class '", e.wnid,
                    "' already listed on line ", wit->second);
    entries.push_back(std::move(e));
  }
  SHEARS_CHECK_AS(DataError, !entries.empty(), path, ": no classes listed");
  std::sort(entries.begin(), entries.end(),
            [](const ClassIndexEntry& a, const ClassIndexEntry& b) { return a.index < b.index; });
  for (std::size_t i = 0; i < entries.size(); ++i) {
    SHEARS_CHECK_AS(DataError, entries[i].index == static_cast<std::int64_t>(i), path,
                    ": class indices must be 0..", entries.size() - 1, " without gaps; ", i,
                    " is missing");
  }
  return entries;
}

ImageFolderDataset::ImageFolderDataset(const ImageFolderOptions& options) : options_(options) {
  SHEARS_CHECK_AS(DataError, options.decode_min_side >= 0, "image folder: decode_min_side ",
                  options.decode_min_side, " is negative");
  directory_ = resolve_directory(options);

  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory_, ec)) {
    std::error_code dir_ec;
    if (entry.is_directory(dir_ec)) folders_.push_back(entry.path().filename().string());
  }
  SHEARS_CHECK_AS(DataError, !ec, "image folder: cannot list ", directory_, ": ", ec.message());
  SHEARS_CHECK_AS(DataError, !folders_.empty(), "image folder: no class folders in ", directory_);
  std::sort(folders_.begin(), folders_.end());

  std::vector<std::int32_t> folder_label(folders_.size());
  if (options.class_index_file.empty()) {
    class_names_ = folders_;
    for (std::size_t i = 0; i < folders_.size(); ++i)
      folder_label[i] = static_cast<std::int32_t>(i);
  } else {
    const auto entries = read_class_index(options.class_index_file);
    std::map<std::string, std::int64_t> by_wnid;
    for (const auto& e : entries) {
      by_wnid[e.wnid] = e.index;
      class_names_.push_back(e.name);
    }
    for (std::size_t i = 0; i < folders_.size(); ++i) {
      auto it = by_wnid.find(folders_[i]);
      SHEARS_CHECK_AS(DataError, it != by_wnid.end(), "image folder: class folder ",
                      join_path(directory_, folders_[i]), " is not listed in ",
                      options.class_index_file);
      folder_label[i] = static_cast<std::int32_t>(it->second);
    }
  }

  for (std::size_t i = 0; i < folders_.size(); ++i) {
    const std::string folder = join_path(directory_, folders_[i]);
    std::vector<std::string> found;
    const auto opts = fs::directory_options::follow_directory_symlink |
                      fs::directory_options::skip_permission_denied;
    for (auto it = fs::recursive_directory_iterator(folder, opts, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code file_ec;
      if (it->is_regular_file(file_ec) && is_image_name(it->path().filename().string())) {
        // The iterator builds paths as folder + "/" + …, so the part after `folder` is the
        // relative path; fs::relative would canonicalise (several syscalls) per file.
        found.push_back(folders_[i] + it->path().string().substr(folder.size()));
      }
    }
    SHEARS_CHECK_AS(DataError, !ec, "image folder: cannot list ", folder, ": ", ec.message());
    SHEARS_CHECK_AS(DataError, !found.empty(), "image folder: class folder ", folder,
                    " has no images (.jpg, .jpeg or .png)");
    std::sort(found.begin(), found.end());
    for (auto& f : found) {
      files_.push_back(std::move(f));
      labels_.push_back(folder_label[i]);
    }
  }
}

std::string ImageFolderDataset::path(std::int64_t index) const {
  check_sample_index(index, size(), "image folder");
  return join_path(directory_, files_[static_cast<std::size_t>(index)]);
}

Sample ImageFolderDataset::get(std::int64_t index) const {
  const std::string file = path(index);
  const auto bytes = read_file(file);
  Sample s;
  try {
    s.image = decode_image(bytes.data(), bytes.size(), file, options_.decode_min_side);
  } catch (const DataError& e) {
    if (options_.bad_image == BadImagePolicy::Fatal) throw;
    skipped_.fetch_add(1);
    throw SkippedSampleError(e.what());
  }
  s.label = labels_[static_cast<std::size_t>(index)];
  return s;
}

std::int64_t ImageFolderDataset::label(std::int64_t index) const {
  check_sample_index(index, size(), "image folder");
  return labels_[static_cast<std::size_t>(index)];
}

std::string ImageFolderDataset::describe() const {
  return detail::cat("image folder ", split_name(options_.split), " (", size(), " images, ",
                     folders_.size(), " folders, ", num_classes(), " classes) from ", directory_);
}

}  // namespace shears::data
