#pragma once

// Small experiments shared by tests of different layers (the runner in-process, the CLI as a
// child process), so that each is written once.

namespace shears::testing {

/// An ABCPruner search small enough for a test (ResNet-20 at half width on 192 synthetic images,
/// 3 food sources, 2 cycles: 17 candidates, a few seconds): with `bench` off the run is
/// bit-reproducible on the CPU, so interrupted-and-resumed runs can be compared with it.
inline constexpr const char* kTinyAbcSearchYaml = R"(name: abc-tiny
seed: 4
data:
  dataset: synthetic
  synthetic: {size: 192, classes: 4, channels: 3, height: 12, width: 12, seed: 5}
  synthetic_test_size: 64
  batch_size: 32
  workers: 1
  val_size: 64
model:
  arch: resnet20
  width: 0.5
train:
  epochs: 1
  lr: 0.05
prune:
  method: abc
  food_number: 3
  food_limit: 1
  max_cycle: 2
  calfitness_epoch: 1
  flops_target: 0.3
  finetune: {epochs: 1, lr: 0.02}
bench:
  enabled: false
)";

/// A MetaPruning run small enough for a test (a half-width ResNet-20 PruningNet trained 2 epochs
/// on 240 synthetic images, 3 generations of 6, the winner and the uniform network trained one
/// epoch): bit-reproducible on the CPU with `bench` off.
inline constexpr const char* kTinyMetaPruningYaml = R"(name: mp-resume
seed: 3
data:
  dataset: synthetic
  synthetic: {size: 240, classes: 4, channels: 3, height: 12, width: 12, seed: 5}
  synthetic_test_size: 64
  batch_size: 32
  eval_batch_size: 64
  workers: 1
  val_per_class: 12
model:
  arch: resnet20
  width: 0.5
train:
  epochs: 0
prune:
  method: metapruning
  pruningnet: {epochs: 2, lr: 0.05, schedule: linear, hidden: 8}
  search: {population: 6, memory: 6, parents: 3, iterations: 3, mutations: 3, crossovers: 3}
  flops_target: 0.5
  flops_window: 0.1
  recalibrate_batches: 2
  final_init: generated
  compare_uniform: true
  finetune: {epochs: 1, lr: 0.02}
bench:
  enabled: false
)";

}  // namespace shears::testing
