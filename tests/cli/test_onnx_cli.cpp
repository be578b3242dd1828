// `shears export` and `model.checkpoint: FILE.onnx` as a user runs them: the exported network's
// initializers load back into the same accuracy, and damaged or foreign ONNX files end with exit
// status 1 and a message naming the file and what does not fit.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_runner.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

namespace fs = std::filesystem;

/// ResNet-20 on 8x8 synthetic images: a run of a few seconds.
std::string tiny_config(int epochs, const std::string& model) {
  return "name: tiny\nseed: 3\ndata:\n"
         "  dataset: synthetic\n"
         "  synthetic: {size: 48, classes: 4, channels: 3, height: 8, width: 8, seed: 5}\n"
         "  synthetic_test_size: 16\n"
         "  val_size: 16\n"
         "  batch_size: 16\n"
         "  workers: 0\n"
         "model:\n" +
         model + "train:\n  epochs: " + std::to_string(epochs) +
         "\n  lr: 0.05\n  schedule: cosine\nbench:\n  enabled: false\n";
}

void expect_user_error(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.signal, 0) << r.err;
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("shears: error: "), std::string::npos) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << n << "\n" << r.err;
}

/// Runs Debian's python3-onnx on `code` (argv[1] = `path`); false when it is not installed.
bool edit_with_onnx(const std::string& code, const std::string& path) {
  if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0) return false;
  const std::string script = path + ".py";
  write_text(script, code);
  return std::system(("/usr/bin/python3 '" + script + "' '" + path + "'").c_str()) == 0;
}

class OnnxCli : public ::testing::Test {
 protected:
  CliResult run_config(const std::string& name, const std::string& text) {
    const std::string cfg = dir_.file(name);
    write_text(cfg, text);
    fs::remove_all(out());
    return run_shears({"run", cfg, "--out", out(), "--quiet"}, dir_.path());
  }
  nlohmann::json dense_test() const {
    return nlohmann::json::parse(read_bytes(out() + "/summary.json"))["dense"]["test"];
  }
  std::string out() const { return dir_.file("run"); }
  TempDir dir_;
};

TEST_F(OnnxCli, ExportedWeightsLoadBackAndBadFilesAreErrors) {
  ASSERT_EQ(run_config("train.yaml", tiny_config(1, "  arch: resnet20\n")).status, 0);
  const std::string ckpt = dir_.file("r20.safetensors");
  fs::copy_file(out() + "/train/best.safetensors", ckpt);
  ASSERT_EQ(run_config("ref.yaml", tiny_config(0, "  arch: resnet20\n  checkpoint: " + ckpt + "\n"))
                .status,
            0);
  const nlohmann::json reference = dense_test();

  const std::string onnx = dir_.file("r20.onnx"), folded = dir_.file("r20_folded.onnx");
  CliResult r = run_shears({"export", ckpt, "--out", onnx}, dir_.path());
  if (r.err.find("built without ONNX support") != std::string::npos) GTEST_SKIP() << r.err;
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("resnet20, opset 13"), std::string::npos) << r.out;
  r = run_shears({"export", ckpt, "--out", folded, "--fold-bn", "--opset", "12", "--batch", "4"},
                 dir_.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("19 batch norms folded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input [4, 3, 8, 8]"), std::string::npos) << r.out;

  // The architecture comes from the file's metadata; the accuracy is the checkpoint's.
  for (const std::string& file : {onnx, folded}) {
    SCOPED_TRACE(file);
    r = run_config("onnx.yaml",
                   tiny_config(0, "  arch: from_checkpoint\n  checkpoint: " + file + "\n"));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(dense_test()["top1"], reference["top1"]);
    EXPECT_NEAR(dense_test()["loss"].get<double>(), reference["loss"].get<double>(), 1e-5);
  }

  // Export errors.
  expect_user_error(run_shears({"export", ckpt, "--out", onnx, "--opset", "9"}, dir_.path()),
                    {"opset 9", "11..17"});
  expect_user_error(
      run_shears({"export", dir_.file("none.safetensors"), "--out", onnx}, dir_.path()),
      {"none.safetensors", "no such checkpoint"});
  expect_user_error(run_shears({"export", ckpt, "--out", onnx, "--batch", "0"}, dir_.path()),
                    {"--batch 0"});

  // A truncated file.
  const std::string whole = read_bytes(onnx), bad = dir_.file("bad.onnx");
  write_text(bad, whole.substr(0, whole.size() / 2));
  r = run_config("bad.yaml", tiny_config(0, "  arch: resnet20\n  checkpoint: " + bad + "\n"));
  expect_user_error(r, {bad, "not a readable ONNX model"});
  // Another architecture than the config names.
  r = run_config("mm.yaml", tiny_config(0, "  arch: resnet56\n  checkpoint: " + onnx + "\n"));
  expect_user_error(r, {"resnet56", "resnet20", onnx});

  // Files from elsewhere (no shears metadata): matched by their graph.
  write_text(bad, whole);
  if (!edit_with_onnx("import onnx, sys\n"
                      "m = onnx.load(sys.argv[1])\n"
                      "del m.metadata_props[:]\n"
                      "onnx.save(m, sys.argv[1])\n",
                      bad)) {
    GTEST_SKIP() << "Debian's python3-onnx is not installed: no foreign-file cases";
  }
  r = run_config("plain.yaml", tiny_config(0, "  arch: resnet20\n  checkpoint: " + bad + "\n"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(dense_test()["top1"], reference["top1"]);
  r = run_config("other.yaml", tiny_config(0, "  arch: resnet32\n  checkpoint: " + bad + "\n"));
  expect_user_error(
      r, {bad, "layer2.0.conv1", "layer1.3.conv1.weight", "[32, 16, 3, 3]", "[16, 16, 3, 3]"});
  // An op no shears network uses.
  ASSERT_TRUE(
      edit_with_onnx("import onnx, sys\n"
                     "m = onnx.load(sys.argv[1])\n"
                     "n = [n for n in m.graph.node if n.op_type == 'Relu'][0]\n"
                     "n.op_type = 'LRN'\n"
                     "onnx.save(m, sys.argv[1])\n",
                     bad));
  r = run_config("op.yaml", tiny_config(0, "  arch: resnet20\n  checkpoint: " + bad + "\n"));
  expect_user_error(r, {bad, "op LRN", "no shears network uses"});
}

}  // namespace
}  // namespace shears::testing
