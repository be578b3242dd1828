// ONNX export and import: every exported network (dense, L1-pruned, pruned by residual groups,
// with and without folded batch norms) passes ONNX's checker and computes in ONNX Runtime the
// logits shears computes, on real images; its initializers load back into the same logits;
// torchvision networks exported by PyTorch load with PyTorch's logits; bad files are errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "app/bench.h"
#include "app/experiment.h"
#include "app/onnxruntime_bench.h"
#include "data/cifar.h"
#include "data/image_folder.h"
#include "data/mnist.h"
#include "data/transforms.h"
#include "engine/autograd/grad_mode.h"
#include "engine/config/config.h"
#include "engine/nn/batch_norm2d.h"
#include "engine/ops/activation.h"
#include "engine/ops/channel.h"
#include "engine/rng.h"
#include "models/model.h"
#include "models/onnx/onnx.h"
#include "models/registry.h"
#include "pruning/methods/method.h"
#include "tests/support/expect_error.h"
#include "tests/support/real_data.h"
#include "tests/support/temp_dir.h"

namespace shears::testing {
namespace {

std::string shared_dir() { return testing::shared_data_dir(); }

#define SKIP_WITHOUT_ONNX() \
  if (!models::onnx_available()) GTEST_SKIP() << "shears was built without ONNX support"

// ---- real images ---------------------------------------------------------------------------

Tensor cifar_images(std::int64_t n) {
  data::CifarOptions o;
  o.root = shared_dir() + "/cifar10/cifar-10-batches-bin";
  o.files = {"test_batch.bin"};
  o.split = data::Split::Test;
  if (!std::filesystem::exists(o.root + "/test_batch.bin")) return {};
  data::CifarDataset ds(o);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    data::Sample s = ds.get(i);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          v.push_back((static_cast<float>(s.image.at(y, x, c)) / 255.0f - 0.5f) / 0.25f);
  }
  return Tensor::from_vector(v, {n, 3, 32, 32});
}

Tensor fashion_mnist_images(std::int64_t n) {
  data::MnistOptions o;
  o.root = data::kFashionMnistSystemDir;
  o.split = data::Split::Test;
  if (!std::filesystem::exists(o.root)) return {};
  data::MnistDataset ds(o);
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    data::Sample s = ds.get(i);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x)
        v.push_back((static_cast<float>(s.image.at(y, x, 0)) / 255.0f - 0.286f) / 0.353f);
  }
  return Tensor::from_vector(v, {n, 1, 28, 28});
}

Tensor imagenet_images(std::int64_t n) {
  const std::string root = shared_dir() + "/imagenet-sample";
  if (!std::filesystem::is_directory(root)) return {};
  data::ImageFolderOptions o;
  o.root = root;
  o.decode_min_side = 256;
  data::ImageFolderDataset ds(o);
  const double mean[] = {0.485, 0.456, 0.406}, stdev[] = {0.229, 0.224, 0.225};
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) {
    data::Image img = data::center_crop(data::resize_shorter(ds.get(i * 37).image, 256), 224, 224);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 224; ++y)
        for (int x = 0; x < 224; ++x)
          v.push_back(static_cast<float>((static_cast<double>(img.at(y, x, c)) / 255.0 - mean[c]) /
                                         stdev[c]));
  }
  return Tensor::from_vector(v, {n, 3, 224, 224});
}

// ---- networks ------------------------------------------------------------------------------

/// BN statistics and affine parameters away from their initial values, as after training.
void randomise_bn(nn::Module& model, Generator& gen) {
  NoGrad no_grad;
  for (auto& [path, m] : model.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(m);
    if (bn == nullptr) continue;
    bn->running_var.copy_(rand_uniform(bn->running_var.shape(), 0.5, 1.5, gen));
    bn->running_mean.copy_(rand_uniform(bn->running_mean.shape(), -0.3, 0.3, gen));
    bn->weight.copy_(rand_uniform(bn->weight.shape(), 0.2, 1.0, gen));
    bn->bias.copy_(rand_uniform(bn->bias.shape(), -0.2, 0.2, gen));
  }
}

std::shared_ptr<nn::Module> dense_network(const models::Arch& arch, std::uint64_t seed) {
  manual_seed(seed);
  std::shared_ptr<nn::Module> model = models::build_model(arch);
  Generator gen(seed + 1);
  randomise_bn(*model, gen);
  model->eval();
  return model;
}

std::shared_ptr<nn::Module> pruned_network(const std::shared_ptr<nn::Module>& dense,
                                           const models::Arch& arch, const std::string& yaml) {
  pruning::PruneContext ctx;
  ctx.model = dense;
  ctx.input = arch.input;
  ctx.recipe.epochs = 0;
  Config c = Config::parse(yaml, "prune.yaml");
  std::unique_ptr<pruning::Method> method = pruning::make_method(c);
  c.check_all_read();
  pruning::PruneResult r = method->run(ctx);
  r.model->eval();
  return r.model;
}

Tensor logits_of(nn::Module& model, const Tensor& x) {
  NoGrad no_grad;
  model.eval();
  return model.forward(x);
}

void write_raw(const std::string& path, const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
}

Tensor read_raw(const std::string& path, const Shape& shape) {
  std::ifstream f(path, std::ios::binary);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  EXPECT_TRUE(f.good()) << path;
  return Tensor::from_vector(v, shape);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  EXPECT_EQ(va.size(), vb.size());
  double m = 0;
  for (std::size_t i = 0; i < va.size() && i < vb.size(); ++i)
    m = std::max(m, std::fabs(static_cast<double>(va[i]) - vb[i]));
  return m;
}

double max_abs(const Tensor& a) {
  double m = 0;
  for (float v : a.to_vector<float>()) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

// ---- the Python side -----------------------------------------------------------------------

/// Runs a command, returning its exit status and (when `out`) its standard output.
int run_command(const std::string& command, std::string* out = nullptr) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) text += buf;
  int status = pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// The Python of the ONNX Runtime venv under the build folder (scripts/onnxruntime-venv installs
/// it once), or "" with the reason in `why`.
std::string ort_python(std::string* why) {
  static std::string python, reason;
  static bool tried = false;
  if (!tried) {
    tried = true;
    std::string out;
    const std::string cmd = std::string("'") + SHEARS_SOURCE_DIR + "/scripts/onnxruntime-venv' '" +
                            SHEARS_BUILD_DIR + "' 2>&1";
    if (run_command(cmd, &out) == 0) {
      python = out.substr(out.find_last_of('\n', out.size() - 2) == std::string::npos
                              ? 0
                              : out.find_last_of('\n', out.size() - 2) + 1);
      while (!python.empty() && python.back() == '\n') python.pop_back();
    } else {
      reason = "ONNX Runtime could not be installed by scripts/onnxruntime-venv: " + out;
    }
  }
  *why = reason;
  return python;
}

struct Exported {
  std::string name, onnx;
  Tensor x, logits;
};

/// ONNX's checker and ONNX Runtime on every exported network: returns the results JSON.
nlohmann::json check_in_onnxruntime(const std::vector<Exported>& cases, const TempDir& dir,
                                    const std::string& python) {
  nlohmann::json manifest = {{"cases", nlohmann::json::array()}};
  for (const Exported& e : cases) {
    const std::string in = dir.file(e.name + ".input"), out = dir.file(e.name + ".logits");
    write_raw(in, e.x);
    write_raw(out, e.logits);
    manifest["cases"].push_back({{"name", e.name},
                                 {"onnx", e.onnx},
                                 {"input", in},
                                 {"shape", e.x.shape()},
                                 {"logits", out}});
  }
  std::ofstream(dir.file("manifest.json")) << manifest.dump();
  std::string out;
  const std::string cmd = "'" + python + "' '" + SHEARS_SOURCE_DIR +
                          "/tests/app/onnx/ort_compare.py' '" + dir.file("manifest.json") + "' '" +
                          dir.file("results.json") + "' 2>&1";
  EXPECT_EQ(run_command(cmd, &out), 0) << out;
  std::ifstream f(dir.file("results.json"));
  return f ? nlohmann::json::parse(f) : nlohmann::json::object();
}

// ---- export → checker, ONNX Runtime, import ---------------------------------------------------

struct Family {
  std::string name;
  std::string model;
  std::string shortcut;  // CIFAR ResNets
  std::string data;      // "cifar", "fmnist", "imagenet"
  std::int64_t images;
  bool constant_kernels = false;  // also an SFP export (constant-input terms)
  bool group_plan = true;         // also the residual-group plan
  // Every batch norm follows a conv or linear layer, so --fold-bn removes them all. A
  // pre-activation network (DenseNet: BN -> ReLU -> conv after each concat) keeps its BNs.
  bool bn_follows_conv = true;
};

void PrintTo(const Family& f, std::ostream* os) { *os << f.name; }

class OnnxExport : public ::testing::TestWithParam<Family> {};

TEST_P(OnnxExport, CheckerOnnxRuntimeAndImportAgreeWithShears) {
  SKIP_WITHOUT_ONNX();
  const Family& f = GetParam();
  Tensor x = f.data == "cifar"    ? cifar_images(f.images)
             : f.data == "fmnist" ? fashion_mnist_images(f.images)
                                  : imagenet_images(f.images);
  if (!x.defined()) GTEST_SKIP() << f.data << " images not found (../shared/data, Fashion-MNIST)";
  std::string why;
  const std::string python = ort_python(&why);
  if (python.empty()) GTEST_SKIP() << why;

  const models::ModelInfo& info = models::model_info(f.model);
  models::Arch arch =
      models::default_arch(f.model, info.num_classes, {x.size(1), x.size(2), x.size(3)});
  if (!f.shortcut.empty()) arch.shortcut = models::parse_shortcut(f.shortcut);
  std::shared_ptr<nn::Module> dense = dense_network(arch, 21);
  std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> nets = {
      {"dense", dense}, {"l1", pruned_network(dense, arch, "method: l1\nrate: 0.5\n")}};
  if (f.group_plan) {
    nets.emplace_back("groups",
                      pruned_network(dense, arch, "method: l1\nrate: 0.3\nresidual: group\n"));
  }
  if (f.constant_kernels)
    nets.emplace_back("sfp", pruned_network(dense, arch, "method: sfp\nrate: 0.4\n"));

  TempDir dir;
  std::vector<Exported> cases;
  for (auto& [plan, net] : nets) {
    Tensor logits = logits_of(*net, x);
    const models::Arch net_arch = models::arch_of(*net);
    if (plan == "sfp") {
      EXPECT_FALSE(net_arch.constant_inputs.empty());
    }
    if (plan != "dense") {
      EXPECT_NE(net_arch, arch) << plan << " pruned nothing";
    }
    std::shared_ptr<nn::Module> fresh;  // loaded from both files in turn
    for (bool fold : {false, true}) {
      const std::string name = f.name + "_" + plan + (fold ? "_folded" : "");
      SCOPED_TRACE(name);
      models::OnnxExportOptions o;
      o.fold_bn = fold;
      const std::string path = dir.file(name + ".onnx");
      models::OnnxExportInfo ex = models::export_onnx(*net, path, o);
      // Folding leaves no batch norm: those after a linear layer (VGG's classifier) fold too.
      if (f.bn_follows_conv) {
        EXPECT_EQ(ex.op_types.count("BatchNormalization") > 0, !fold) << name;
        EXPECT_EQ(ex.folded_bn > 0, fold) << name;
      }
      cases.push_back({name, path, x, logits});
      // Round trip: a freshly initialised network of the recorded architecture, given the
      // file's initializers, computes the same logits (bit for bit without folding).
      models::Arch back = models::arch_from_json(models::onnx_arch_json(path));
      EXPECT_EQ(back, net_arch);
      if (!fresh) fresh = dense_network(back, 99);
      models::load_onnx_weights(*fresh, path);
      const double d = max_abs_diff(logits_of(*fresh, x), logits);
      if (fold) {
        EXPECT_LE(d, 1e-4) << name;
      } else {
        EXPECT_EQ(d, 0.0) << name;
      }
    }
  }
  nlohmann::json results = check_in_onnxruntime(cases, dir, python);
  for (const Exported& e : cases) {
    SCOPED_TRACE(e.name);
    ASSERT_TRUE(results["cases"].contains(e.name)) << results.dump();
    const nlohmann::json& r = results["cases"][e.name];
    EXPECT_EQ(r.value("checker", std::string("missing")), "ok");
    ASSERT_TRUE(r.contains("max_abs_diff")) << r.dump();
    EXPECT_EQ(r["shape"], nlohmann::json(e.logits.shape()));
    EXPECT_LE(r["max_abs_diff"].get<double>(), 1e-4) << r.dump();
    // The logits are not trivially small: the bound above means something.
    EXPECT_GT(max_abs(e.logits), 0.05);
    std::printf("[onnx] %-36s checker %s  max|logit| %.3g  max|d| %.3g (onnxruntime %s)\n",
                e.name.c_str(), r.value("checker", std::string()).c_str(), max_abs(e.logits),
                r["max_abs_diff"].get<double>(), results.value("onnxruntime", "").c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, OnnxExport,
    ::testing::Values(Family{"ResNet20FashionMnist", "resnet20", "a-avgpool", "fmnist", 4},
                      Family{"ResNet20AvgPool", "resnet20", "a-avgpool", "cifar", 4, true},
                      Family{"ResNet20Subsample", "resnet20", "a-subsample", "cifar", 4},
                      Family{"ResNet20Projection", "resnet20", "b-conv", "cifar", 4},
                      Family{"ResNet56AvgPool", "resnet56", "a-avgpool", "cifar", 3},
                      Family{"ResNet56Subsample", "resnet56", "a-subsample", "cifar", 3},
                      Family{"ResNet56Projection", "resnet56", "b-conv", "cifar", 3},
                      Family{"Vgg16", "vgg16", "", "cifar", 3},
                      Family{"ResNet18", "resnet18", "", "imagenet", 2},
                      Family{"ResNet50", "resnet50", "", "imagenet", 1},
                      Family{"MobileNetV2", "mobilenetv2", "", "imagenet", 1},
                      Family{"GoogLeNet", "googlenet", "", "cifar", 1, false, false},
                      Family{"DenseNet40", "densenet40", "", "cifar", 1, false, false, false}),
    [](const ::testing::TestParamInfo<Family>& i) { return i.param.name; });

// The registry networks the cases above do not cover, at their standard widths: the checker
// passes and ONNX Runtime computes shears' logits.
TEST(OnnxExportEveryModel, CheckerAndOnnxRuntimeAgreeWithShears) {
  SKIP_WITHOUT_ONNX();
  Tensor cifar = cifar_images(2), imagenet = imagenet_images(1);
  if (!cifar.defined() || !imagenet.defined()) GTEST_SKIP() << "../shared/data not found";
  std::string why;
  const std::string python = ort_python(&why);
  if (python.empty()) GTEST_SKIP() << why;
  TempDir dir;
  std::vector<Exported> cases;
  const std::set<std::string> covered = {"resnet20", "resnet56",    "vgg16",     "resnet18",
                                         "resnet50", "mobilenetv2", "googlenet", "densenet40"};
  for (const models::ModelInfo& info : models::model_table()) {
    if (covered.count(info.name)) continue;
    SCOPED_TRACE(info.name);
    std::shared_ptr<nn::Module> net = dense_network(models::default_arch(info.name), 31);
    const Tensor& x = info.input[1] == 224 ? imagenet : cifar;
    const std::string path = dir.file(info.name + ".onnx");
    models::export_onnx(*net, path);
    cases.push_back({info.name, path, x, logits_of(*net, x)});
  }
  nlohmann::json results = check_in_onnxruntime(cases, dir, python);
  for (const Exported& e : cases) {
    SCOPED_TRACE(e.name);
    const nlohmann::json& r = results["cases"][e.name];
    EXPECT_EQ(r.value("checker", std::string("missing")), "ok");
    ASSERT_TRUE(r.contains("max_abs_diff")) << r.dump();
    // 1e-4, relative beyond logits of 1 (a randomly initialised ResNet-110 reaches hundreds).
    EXPECT_LE(r["max_abs_diff"].get<double>(), 1e-4 * std::max(1.0, max_abs(e.logits))) << r.dump();
    std::printf("[onnx] %-36s checker %s  max|logit| %.3g  max|d| %.3g\n", e.name.c_str(),
                r.value("checker", std::string()).c_str(), max_abs(e.logits),
                r["max_abs_diff"].get<double>());
  }
}

// ---- torchvision networks exported by PyTorch ------------------------------------------------

/// The Python of the PyTorch venv (SHEARS_TORCH_PYTHON, or scripts/torch-venv's under the build
/// folder), or "" when there is none.
std::string torch_python() {
  const char* env = std::getenv("SHEARS_TORCH_PYTHON");
  std::string python = env != nullptr && *env != '\0'
                           ? env
                           : std::string(SHEARS_BUILD_DIR) + "/torch-venv/bin/python3";
  if (!std::filesystem::exists(python)) return "";
  return run_command("'" + python + "' -c 'import torch, torchvision' 2>&1") == 0 ? python : "";
}

TEST(OnnxImport, TorchvisionNetworksExportedByPyTorchGiveItsLogits) {
  SKIP_WITHOUT_ONNX();
  Tensor x = imagenet_images(2);
  if (!x.defined()) GTEST_SKIP() << "ImageNet sample not found in ../shared/data";
  const std::string python = torch_python();
  if (python.empty()) {
    GTEST_SKIP() << "no PyTorch venv (scripts/torch-venv " << SHEARS_BUILD_DIR
                 << ", or SHEARS_TORCH_PYTHON): torchvision fixtures not generated";
  }
  TempDir dir;
  write_raw(dir.file("x.f32"), x);
  std::string out;
  const std::string cmd = "'" + python + "' '" + SHEARS_SOURCE_DIR +
                          "/tests/app/onnx/torchvision_export.py' '" + dir.path() + "' '" +
                          dir.file("x.f32") + "' 2 3 224 224 resnet18 mobilenet_v2 2>&1";
  ASSERT_EQ(run_command(cmd, &out), 0) << out;
  for (const auto& [tv, ours] : {std::pair<std::string, std::string>{"resnet18", "resnet18"},
                                 {"mobilenet_v2", "mobilenetv2"}}) {
    SCOPED_TRACE(tv);
    // PyTorch's exporter folds each batch norm into its conv and names no layer: the import
    // matches the graph, and the batch norms take the folded shifts.
    EXPECT_EQ(models::onnx_arch_json(dir.file(tv + ".onnx")), "");
    std::shared_ptr<nn::Module> net = dense_network(models::default_arch(ours), 5);
    models::load_onnx_weights(*net, dir.file(tv + ".onnx"));
    Tensor expected = read_raw(dir.file(tv + ".logits"), {2, 1000});
    Tensor got = logits_of(*net, x);
    EXPECT_LE(max_abs_diff(got, expected), 1e-4);
    EXPECT_GT(max_abs(expected), 0.1);
    std::printf("[onnx] torchvision %-12s -> shears %-12s max|logit| %.3g  max|d| %.3g\n",
                tv.c_str(), ours.c_str(), max_abs(expected), max_abs_diff(got, expected));
  }
  // Another architecture: the first layer that differs is named, with both shapes.
  std::shared_ptr<nn::Module> r34 = models::build_model(models::default_arch("resnet34"));
  const Tensor before = r34->state_dict().front().second.clone();
  EXPECT_THROW_MSG(models::load_onnx_weights(*r34, dir.file("resnet18.onnx")), CheckpointError,
                   "/layer2/layer2.0/conv1/Conv' (Conv) has shape [128, 64, 3, 3] but the "
                   "network's 'layer1.2.conv1.weight' is [64, 64, 3, 3]");
  EXPECT_EQ(max_abs_diff(r34->state_dict().front().second, before), 0.0);  // unchanged
}

// ---- shears bench --onnxruntime -----------------------------------------------------------------

TEST(OnnxRuntimeBench, EveryRowGetsOnnxRuntimeTimes) {
  SKIP_WITHOUT_ONNX();
  std::string why;
  const std::string python = ort_python(&why);
  if (python.empty()) GTEST_SKIP() << why;
  setenv("SHEARS_ORT_PYTHON", python.c_str(), 1);
  std::vector<app::BenchNetwork> nets = {app::network_from_spec("resnet20"),
                                         app::network_from_spec("resnet20:keep=0.5")};
  app::BenchOptions o;
  o.batches = {1, 2};
  o.onnxruntime = true;
  o.timing.min_time_s = 0.02;
  o.timing.min_samples = 3;
  o.timing.min_sample_s = 0.001;
  app::BenchResult r = app::run_bench(nets, o);
  app::time_onnxruntime(nets, r, o);
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_FALSE(r.ort_version.empty());
  for (const app::BenchRow& row : r.rows) {
    EXPECT_TRUE(row.has_ort);
    EXPECT_GE(row.ort.samples, 3);
    EXPECT_GT(row.ort.median_ms, 0.0);
  }
  nlohmann::json j = nlohmann::json::parse(app::bench_json(r, o));
  EXPECT_GT(j["rows"][1]["ours_over_onnxruntime"].get<double>(), 0.0);
  EXPECT_EQ(j["rows"][3]["onnxruntime"]["version"], r.ort_version);
  EXPECT_NE(app::bench_table(r, o).find("ours/ORT"), std::string::npos);
}

// ---- options and errors of the exporter --------------------------------------------------------

TEST(OnnxExportOptions, FixedBatchDepthwiseAndOpsetRange) {
  SKIP_WITHOUT_ONNX();
  models::Arch arch = models::default_arch("mobilenetv2", 10, {3, 32, 32}, 0.35);
  std::shared_ptr<nn::Module> net = dense_network(arch, 3);
  TempDir dir;
  models::OnnxExportOptions o;
  o.batch = 4;
  o.opset = 11;
  models::OnnxExportInfo info = models::export_onnx(*net, dir.file("m.onnx"), o);
  EXPECT_EQ(info.input_shape, (Shape{4, 3, 32, 32}));
  EXPECT_EQ(info.output_shape, (Shape{4, 10}));
  EXPECT_GT(info.op_types.at("Conv"), 40);
  o.opset = 10;
  EXPECT_THROW_MSG(models::export_onnx(*net, dir.file("m.onnx"), o), ConfigError, "opset 10");
  o.opset = 13;
  o.batch = -1;
  EXPECT_THROW_MSG(models::export_onnx(*net, dir.file("m.onnx"), o), ConfigError, "batch -1");
}

/// A network with an op the exporter has no ONNX form for: a learnable soft channel mask.
class GatedNet : public nn::Module {
 public:
  GatedNet() {
    nn::Conv2dOptions o;
    o.in_channels = 3;
    o.out_channels = 8;
    conv = register_module("conv", std::make_shared<nn::Conv2d>(o));
    gate = Tensor::ones({8});
    register_buffer("gate", gate);
  }
  Tensor forward(const Tensor& x) override { return soft_mask(conv->forward(x), gate); }
  std::string type_name() const override { return "GatedNet"; }
  std::shared_ptr<nn::Conv2d> conv;
  Tensor gate;
};

TEST(OnnxExportErrors, UnsupportedOpNamesTheLayer) {
  SKIP_WITHOUT_ONNX();
  GatedNet net;
  TempDir dir;
  EXPECT_THROW_MSG(models::export_onnx(net, dir.file("g.onnx"), {},
                                       models::arch_to_json(models::default_arch("resnet20"))),
                   ShapeError, "layer 'gate' runs op 'soft_mask'");
  EXPECT_FALSE(std::filesystem::exists(dir.file("g.onnx")));
}

}  // namespace
}  // namespace shears::testing
