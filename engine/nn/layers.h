#pragma once

#include <vector>

#include "engine/nn/module.h"

namespace shears::nn {

/// Parameter-free layers. Each maps its input shape as its functional op does.
class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LeakyReLU"; }
  std::string extra_repr() const override { return std::to_string(slope_); }

 private:
  double slope_;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sigmoid"; }
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int kernel, int stride = -1, int padding = 0, bool ceil_mode = false)
      : kernel_(kernel),
        stride_(stride <= 0 ? kernel : stride),
        padding_(padding),
        ceil_mode_(ceil_mode) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

 private:
  int kernel_, stride_, padding_;
  bool ceil_mode_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int kernel, int stride = -1, int padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true)
      : kernel_(kernel),
        stride_(stride <= 0 ? kernel : stride),
        padding_(padding),
        ceil_mode_(ceil_mode),
        count_include_pad_(count_include_pad) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

 private:
  int kernel_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
};

/// (N,C,H,W) → (N,C,1,1).
class GlobalAvgPool2d : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "GlobalAvgPool2d"; }
};

/// (N, d1, d2, ...) → (N, d1*d2*...).
class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Flatten"; }
};

/// Dropout with probability p in training; identity in eval.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override { return "p=" + std::to_string(p_); }

 private:
  double p_;
};

/// Runs its children in order; they are named "0", "1", ... as in PyTorch.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<ModulePtr> layers);
  /// Appends a layer named by its position (or `name` when given).
  void push_back(ModulePtr layer, const std::string& name = "");
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
  std::size_t size() const { return children().size(); }
  Module& operator[](std::size_t i) const { return *children()[i].second; }
};

}  // namespace shears::nn
