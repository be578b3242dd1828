// The `shears` executable fed broken configs, damaged datasets and checkpoints, and outputs it
// cannot write, as a user would: every case must end with exit status 1, a message naming the
// file or key, and no loss or half-written version of anything the run had already written.

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_runner.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

namespace fs = std::filesystem;

/// A run of a few seconds at most: ResNet-20 on 8x8 synthetic images.
std::string tiny_config(const std::string& extra_train = "", int epochs = 1,
                        const std::string& model = "  arch: resnet20\n",
                        const std::string& data = "") {
  std::string d = data.empty() ? "  dataset: synthetic\n"
                                 "  synthetic: {size: 48, classes: 4, channels: 3, height: 8, "
                                 "width: 8, seed: 5}\n"
                                 "  synthetic_test_size: 16\n"
                                 "  val_size: 16\n"
                               : data;
  return "name: tiny\nseed: 3\ndata:\n" + d +
         "  batch_size: 16\n"
         "  workers: 0\n"
         "model:\n" +
         model +
         "train:\n"
         "  epochs: " +
         std::to_string(epochs) +
         "\n"
         "  lr: 0.05\n"
         "  schedule: cosine\n" +
         extra_train + "bench:\n  enabled: false\n";
}

/// Asserts the run failed the way a user error must: exit status 1, a plain error (not an
/// internal one) and every one of `needles` in the message.
void expect_user_error(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal << "\n" << r.err;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("shears: error: "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << n << "\n" << r.err;
}

class Reliability : public ::testing::Test {
 protected:
  /// Writes `text` as `name` in the test directory and runs `shears run` on it.
  CliResult run_config(const std::string& name, const std::string& text,
                       std::vector<std::string> extra = {}, const CliOptions& options = {}) {
    const std::string cfg = dir_.file(name);
    write_text(cfg, text);
    std::vector<std::string> args{"run", cfg, "--out", out(), "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_shears(args, dir_.path(), options);
  }
  std::string out() const { return dir_.file("run"); }
  TempDir dir_;
};

// ---- configs ---------------------------------------------------------------------------------

TEST_F(Reliability, NonFiniteNumbersAreRejectedAtParseTimeWithFileLineAndKey) {
  for (const char* value : {".nan", ".inf", "-.inf", ".NaN"}) {
    std::string text = tiny_config();
    text.replace(text.find("lr: 0.05"), 8, std::string("lr: ") + value);
    CliResult r = run_config("nan.yaml", text);
    expect_user_error(r, {"nan.yaml:", "key 'train.lr' must be a finite number", value});
    EXPECT_EQ(r.err.find(".cpp"), std::string::npos) << "source path in the message: " << r.err;
    EXPECT_FALSE(fs::exists(out())) << "nothing is written for a config that does not parse";
  }
  // Keys of other sections too (a NaN passes every `v < 0` range check).
  CliResult r = run_config("ls.yaml", tiny_config("  label_smoothing: .nan\n"));
  expect_user_error(r, {"ls.yaml:", "train.label_smoothing", "finite"});
}

TEST_F(Reliability, UnknownArchitectureNamesFileLineAndKey) {
  CliResult r = run_config("arch.yaml", tiny_config("", 1, "  arch: resnet21\n"));
  expect_user_error(r, {"arch.yaml:", "key 'model.arch'", "resnet21", "resnet20"});
}

TEST_F(Reliability, DeeplyNestedYamlSaysWhereAndWhy) {
  std::string text =
      tiny_config() + "deep: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  CliResult r = run_config("deep.yaml", text);
  expect_user_error(r, {"deep.yaml:", "nests deeper than"});
}

TEST_F(Reliability, HugeYamlIsRejectedBeforeItCostsMemory) {
  // 10 MB of flow-sequence items: far over the node limit.
  std::string text = tiny_config() + "many: [";
  text.reserve(10'500'000);
  while (text.size() < 10'000'000) text += "0,";
  text += "0]\n";
  CliResult r = run_config("huge.yaml", text);
  expect_user_error(r, {"huge.yaml:", "more than 100000 nodes"});
  // The text and its stream scan only: yaml-cpp's node graph of it would cost over 1 GB.
  EXPECT_LT(r.max_rss_kb, 400 * 1024) << "peak RSS " << r.max_rss_kb << " kB";
  std::printf("10 MB config rejected at a peak RSS of %ld kB\n", r.max_rss_kb);
}

TEST_F(Reliability, MalformedYamlMissingFileUnknownKeyAndWrongType) {
  expect_user_error(run_config("syntax.yaml", "name: [unclosed\n"),
                    {"syntax.yaml:", "malformed YAML"});
  expect_user_error(run_shears({"run", dir_.file("absent.yaml")}, dir_.path()),
                    {"absent.yaml", "No such file"});
  expect_user_error(run_config("key.yaml", tiny_config("  epoch: 3\n")),
                    {"key.yaml:", "unknown key 'train.epoch'"});
  std::string text = tiny_config();
  text.replace(text.find("batch_size: 16"), 14, "batch_size: sixteen");
  expect_user_error(run_config("type.yaml", text),
                    {"type.yaml:", "data.batch_size", "must be an integer"});
}

// ---- outputs ---------------------------------------------------------------------------------

TEST_F(Reliability, OutThatIsARegularFileIsAPlainError) {
  write_text(out(), "precious");
  CliResult r = run_config("ok.yaml", tiny_config());
  expect_user_error(r, {out(), "not a directory"});
  EXPECT_EQ(read_bytes(out()), "precious");
}

TEST_F(Reliability, UnwritableMetricsFileFailsTheRunNamingIt) {
  fs::create_directories(out() + "/train/metrics.jsonl");  // a directory in the file's place
  CliResult r = run_config("ok.yaml", tiny_config());
  expect_user_error(r, {"metrics.jsonl"});
  // The epoch was not committed: no last.safetensors claims it.
  EXPECT_FALSE(fs::exists(out() + "/train/last.safetensors"));
  EXPECT_FALSE(fs::exists(out() + "/summary.json"));
}

TEST_F(Reliability, FullDiskFailsCleanlyAndKeepsWhatWasWritten) {
  // One complete epoch first, then a second with a file size limit below a checkpoint's size.
  ASSERT_EQ(run_config("ok.yaml", tiny_config("", 1)).status, 0);
  const std::string last = read_bytes(out() + "/train/last.safetensors");
  const std::string best = read_bytes(out() + "/train/best.safetensors");
  const std::string metrics = read_bytes(out() + "/train/metrics.jsonl");
  ASSERT_GT(last.size(), 100'000u);
  CliOptions full;
  full.file_size_limit = 64 * 1024;
  CliResult r = run_config("ok.yaml", tiny_config("", 2), {}, full);
  expect_user_error(r, {"safetensors", "File too large"});
  EXPECT_EQ(read_bytes(out() + "/train/last.safetensors"), last);
  EXPECT_EQ(read_bytes(out() + "/train/best.safetensors"), best);
  // metrics.jsonl keeps every committed record whole (an uncommitted one may follow, whole).
  EXPECT_EQ(read_bytes(out() + "/train/metrics.jsonl").substr(0, metrics.size()), metrics);
  for (const auto& e : fs::directory_iterator(out() + "/train")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
        << "temporary left behind: " << e.path();
  }
  // Without the limit the run resumes and finishes with two epochs, each recorded once.
  ASSERT_EQ(run_config("ok.yaml", tiny_config("", 2)).status, 0);
  std::string m = read_bytes(out() + "/train/metrics.jsonl");
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
  EXPECT_EQ(m.substr(0, metrics.size()), metrics);
}

TEST_F(Reliability, FullDiskOnTheFirstCheckpointLeavesNoPartialFile) {
  CliOptions full;
  full.file_size_limit = 64 * 1024;
  CliResult r = run_config("ok.yaml", tiny_config(), {}, full);
  expect_user_error(r, {"best.safetensors", "File too large"});
  EXPECT_FALSE(fs::exists(out() + "/train/best.safetensors"));
  EXPECT_FALSE(fs::exists(out() + "/train/last.safetensors"));
  EXPECT_TRUE(fs::exists(out() + "/config.yaml"));  // small, written whole before training
}

// ---- datasets --------------------------------------------------------------------------------

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

/// An idx3 images file and idx1 labels file of `n` 28x28 images (all label 0).
void write_mnist_split(const std::string& root, const std::string& prefix, std::uint32_t n) {
  write_text(root + "/" + prefix + "-images-idx3-ubyte",
             be32(0x803) + be32(n) + be32(28) + be32(28) + std::string(n * 784, '\x10'));
  write_text(root + "/" + prefix + "-labels-idx1-ubyte",
             be32(0x801) + be32(n) + std::string(n, '\0'));
}

std::string mnist_data(const std::string& root) {
  return "  dataset: mnist\n  root: " + root + "\n";
}

TEST_F(Reliability, IdxHeaderWithHugeDimensionsIsRejectedNamingTheFile) {
  const std::string root = dir_.file("mnist");
  fs::create_directories(root);
  write_mnist_split(root, "train", 8);
  write_mnist_split(root, "t10k", 4);
  // 4 x 2^31 x 2^31 bytes: 2^64, which wraps a 64-bit count to 0.
  const std::string bad = root + "/t10k-images-idx3-ubyte";
  write_text(bad, be32(0x803) + be32(4) + be32(0x80000000u) + be32(0x80000000u));
  CliResult r = run_config("m.yaml", tiny_config("", 1, "  arch: resnet20\n", mnist_data(root)));
  expect_user_error(r, {bad, "overflow"});
  // Any other huge claim is checked against the file's size.
  write_text(bad, be32(0x803) + be32(4) + be32(60000) + be32(60000));
  r = run_config("m.yaml", tiny_config("", 1, "  arch: resnet20\n", mnist_data(root)));
  expect_user_error(r, {bad});
  write_text(bad, be32(0x803) + be32(4) + be32(28) + be32(28) + std::string(100, 'x'));
  r = run_config("m.yaml", tiny_config("", 1, "  arch: resnet20\n", mnist_data(root)));
  expect_user_error(r, {bad, "truncated"});
}

TEST_F(Reliability, EmptySplitsAreErrors) {
  const std::string root = dir_.file("mnist");
  fs::create_directories(root);
  write_mnist_split(root, "train", 8);
  write_mnist_split(root, "t10k", 0);
  std::string data = mnist_data(root);
  CliResult r = run_config("m.yaml", tiny_config("", 1, "  arch: resnet20\n", data));
  expect_user_error(r, {"test split is empty", root + "/t10k-images-idx3-ubyte"});
  EXPECT_FALSE(fs::exists(out() + "/summary.json"));
  write_mnist_split(root, "t10k", 4);
  write_mnist_split(root, "train", 0);
  r = run_config("m.yaml", tiny_config("", 1, "  arch: resnet20\n", data));
  expect_user_error(r, {"training split is empty", root + "/train-images-idx3-ubyte"});
}

TEST_F(Reliability, DamagedCifarFilesAreNamed) {
  const std::string root = dir_.file("cifar");
  fs::create_directories(root);
  const std::string train = root + "/data_batch_1.bin", test = root + "/test_batch.bin";
  write_text(train, std::string(3073 * 4, '\0'));
  write_text(test, std::string(3073 * 2 + 5, '\0'));  // not a whole number of records
  std::string data =
      "  dataset: cifar10\n  root: " + root + "\n  train_files: [data_batch_1.bin]\n";
  CliResult r = run_config("c.yaml", tiny_config("", 1, "  arch: resnet20\n", data));
  expect_user_error(r, {test, "not a whole number"});
  std::string rec(3073 * 2, '\0');
  rec[3073] = 42;  // label 42 of 10 classes
  write_text(test, rec);
  r = run_config("c.yaml", tiny_config("", 1, "  arch: resnet20\n", data));
  expect_user_error(r, {test, "label 42"});
  fs::remove(train);
  r = run_config("c.yaml", tiny_config("", 1, "  arch: resnet20\n", data));
  expect_user_error(r, {train, "missing"});
}

TEST_F(Reliability, CorruptImageInAFolderDatasetIsNamed) {
  const std::string root = dir_.file("images");
  for (const char* split : {"train", "val"}) {
    fs::create_directories(root + "/" + split + "/cat");
    for (const char* name : {"a.jpg", "b.jpg"}) {
      write_text(root + "/" + split + "/cat/" + name, "\xff\xd8\xff garbage");
    }
  }
  std::string data = "  dataset: imagenet_folder\n  root: " + root + "\n";
  CliResult r = run_config("i.yaml", tiny_config("", 1, "  arch: resnet18\n", data));
  expect_user_error(r, {root + "/train/cat/", ".jpg: not a decodable JPEG"});
}

// ---- checkpoints -----------------------------------------------------------------------------

TEST_F(Reliability, DamagedAndMismatchedCheckpoints) {
  // A real ResNet-20 training checkpoint.
  ASSERT_EQ(run_config("ok.yaml", tiny_config()).status, 0);
  const std::string ckpt = dir_.file("r20.safetensors");
  fs::copy_file(out() + "/train/best.safetensors", ckpt);
  fs::remove_all(out());

  // Another architecture in the config than in the checkpoint: both names.
  std::string model = "  arch: vgg16\n  checkpoint: " + ckpt + "\n";
  CliResult r = run_config("mm.yaml", tiny_config("", 0, model));
  expect_user_error(r, {"mm.yaml:", "model.arch", "vgg16", "resnet20", ckpt});
  r = run_shears({"eval", dir_.file("mm.yaml")}, dir_.path());
  expect_user_error(r, {"vgg16", "resnet20"});
  // arch: from_checkpoint takes whatever the checkpoint holds.
  r = run_config("fc.yaml",
                 tiny_config("", 0, "  arch: from_checkpoint\n  checkpoint: " + ckpt + "\n"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(read_bytes(out() + "/summary.json"))["model"], "resnet20");

  // Truncated, garbage and empty files.
  const std::string whole = read_bytes(ckpt);
  const std::string bad = dir_.file("bad.safetensors");
  for (const std::string& content :
       {whole.substr(0, whole.size() / 2), std::string("not a checkpoint at all"), std::string()}) {
    write_text(bad, content);
    r = run_config("bad.yaml", tiny_config("", 0, "  arch: resnet20\n  checkpoint: " + bad + "\n"));
    expect_user_error(r, {bad});
  }
  // A header whose length points past the end.
  std::string header = whole.substr(0, 8);
  header[7] = '\x7f';
  write_text(bad, header + whole.substr(8, 100));
  r = run_config("bad.yaml", tiny_config("", 0, "  arch: resnet20\n  checkpoint: " + bad + "\n"));
  expect_user_error(r, {bad, "header length"});
}

TEST_F(Reliability, DamagedLastCheckpointStopsTheResumeAndIsKept) {
  ASSERT_EQ(run_config("ok.yaml", tiny_config("", 1)).status, 0);
  const std::string last = out() + "/train/last.safetensors";
  std::string bytes = read_bytes(last);
  bytes.resize(bytes.size() - 10);
  write_text(last, bytes);
  const std::string best = read_bytes(out() + "/train/best.safetensors");
  CliResult r = run_config("ok.yaml", tiny_config("", 2));
  expect_user_error(r, {last});
  EXPECT_EQ(read_bytes(last), bytes) << "the damaged file is left for the user to inspect";
  EXPECT_EQ(read_bytes(out() + "/train/best.safetensors"), best);
}

// A numeric field of a training checkpoint's metadata that does not parse is named, with its text.
TEST_F(Reliability, MalformedCheckpointMetadataFieldIsNamed) {
  ASSERT_EQ(run_config("ok.yaml", tiny_config("", 1)).status, 0);
  const std::string last = out() + "/train/last.safetensors";
  // safetensors: an 8-byte little-endian header length, the JSON header, then the data, whose
  // offsets are relative to the data's start, so the header may change length.
  const std::string bytes = read_bytes(last);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  ASSERT_EQ(header["__metadata__"]["epoch"], "1");
  header["__metadata__"]["epoch"] = "one";
  const std::string text = header.dump();
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_text(last, length + text + bytes.substr(8 + n));
  CliResult r = run_config("ok.yaml", tiny_config("", 2));
  expect_user_error(r, {last, "metadata field 'epoch'", "'one'"});
}

// ---- other commands --------------------------------------------------------------------------

TEST_F(Reliability, FlopsClassesMustBeAWholeNumber) {
  for (const char* bad : {"ten", "0", "10x", "-3"}) {
    CliResult r = run_shears({"flops", "--model", "resnet20", "--classes", bad}, dir_.path());
    expect_user_error(r, {std::string("--classes ") + bad, "positive whole number of classes"});
  }
  CliResult r =
      run_shears({"flops", "--model", "resnet20", "--classes", "100", "--json"}, dir_.path());
  ASSERT_EQ(r.status, 0) << r.err;
  // ResNet-20's classifier is 64 -> classes: 100 classes cost 64 * 100 MACs and 6,500 params.
  CliResult r10 = run_shears({"flops", "--model", "resnet20", "--json"}, dir_.path());
  ASSERT_EQ(r10.status, 0) << r10.err;
  const nlohmann::json j100 = nlohmann::json::parse(r.out), j10 = nlohmann::json::parse(r10.out);
  EXPECT_EQ(j100["flops"].get<std::int64_t>() - j10["flops"].get<std::int64_t>(), 64 * 90);
  EXPECT_EQ(j100["params"].get<std::int64_t>() - j10["params"].get<std::int64_t>(), 65 * 90);
}

TEST_F(Reliability, FlopsTakesEachModelsDefaultInputFromTheRegistry) {
  for (const auto& [model, side] :
       std::vector<std::pair<std::string, int>>{{"resnet18", 224}, {"googlenet", 32}}) {
    CliResult r = run_shears({"flops", "--model", model, "--json"}, dir_.path());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["input"], (std::vector<int>{3, side, side})) << model;
  }
}

}  // namespace
}  // namespace shears::testing
