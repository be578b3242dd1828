#include "engine/train/metrics.h"

#include "engine/dist/communicator.h"

namespace shears {

void AccuracyMeter::allreduce(dist::Communicator& comm) {
  if (comm.size() == 1) return;
  Tensor t = Tensor::from_vector(
      std::vector<double>{static_cast<double>(count_), static_cast<double>(correct1_),
                          static_cast<double>(correct5_), loss_sum_},
      {4});
  comm.allreduce_(t);
  const double* v = t.data<double>();
  count_ = static_cast<std::int64_t>(v[0]);
  correct1_ = static_cast<std::int64_t>(v[1]);
  correct5_ = static_cast<std::int64_t>(v[2]);
  loss_sum_ = v[3];
}

std::int64_t count_topk_correct(const Tensor& logits, const Tensor& labels, int k) {
  SHEARS_CHECK_AS(ShapeError,
                  logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
                  "top-k: logits ", shape_str(logits.shape()), " and labels ",
                  shape_str(labels.shape()), " do not match");
  const std::int64_t n = logits.size(0), c = logits.size(1);
  std::vector<float> v = logits.to_vector<float>();
  std::vector<std::int64_t> y = labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = v.data() + i * c;
    std::int64_t label = y[static_cast<std::size_t>(i)];
    if (label < 0 || label >= c) continue;
    float target = row[label];
    // The label is in the top k when fewer than k classes beat it.
    std::int64_t better = 0;
    for (std::int64_t j = 0; j < c; ++j) {
      if (row[j] > target || (row[j] == target && j < label)) ++better;
    }
    if (better < k) ++correct;
  }
  return correct;
}

void AccuracyMeter::add(const Tensor& logits, const Tensor& labels, double mean_loss) {
  std::int64_t n = logits.size(0);
  correct1_ += count_topk_correct(logits, labels, 1);
  correct5_ += count_topk_correct(logits, labels, 5);
  loss_sum_ += mean_loss * static_cast<double>(n);
  count_ += n;
}

}  // namespace shears
