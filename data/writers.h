#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace shears::data {

// Writers for the official on-disk formats, so tests and tools can build real files. Every
// writer replaces an existing file and throws DataError naming the file when it cannot write,
// or when its inputs do not fit the format (the message says which).

/// A CIFAR-10 batch file: one 3,073-byte record per image (label byte, then R, G, B planes).
/// Images are 32x32x3 HWC; labels lie in [0, 10) (one per image).
void write_cifar10(const std::string& path, const std::vector<Image>& images,
                   const std::vector<std::uint8_t>& labels);

/// A CIFAR-100 file (train.bin / test.bin): 3,074-byte records of coarse label [0, 20), fine
/// label [0, 100), then the planes of a 32x32x3 HWC image.
void write_cifar100(const std::string& path, const std::vector<Image>& images,
                    const std::vector<std::uint8_t>& coarse_labels,
                    const std::vector<std::uint8_t>& fine_labels);

/// An unsigned-byte idx file: magic 0x0000080<rank>, big-endian dims, then the bytes.
/// `bytes` must hold the product of `dims` values. gzip-compressed when `gzip`.
void write_idx(const std::string& path, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& bytes, bool gzip = false);
/// An idx3 image file from same-sized single-channel images.
void write_idx_images(const std::string& path, const std::vector<Image>& images, bool gzip = false);
/// An idx1 label file.
void write_idx_labels(const std::string& path, const std::vector<std::uint8_t>& labels,
                      bool gzip = false);

/// A text file with one line per entry (class names for batches.meta.txt and the like).
void write_lines(const std::string& path, const std::vector<std::string>& lines);

/// An image file, JPEG (quality `quality`) or PNG chosen by the path's extension
/// (.jpg/.jpeg/.JPEG, .png).
void write_image(const std::string& path, const Image& image, int quality = 90);

}  // namespace shears::data
