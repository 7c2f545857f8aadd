#pragma once
// The training loop: random windows of a token stream, forward and backward in float32 on the
// thread pool, gradient accumulation, clipping, AdamW on the demo recipe's schedule, periodic
// validation perplexity and checkpoints. With a teacher it distils (train_ops.h's
// distillation_loss) instead of fitting hard labels alone.
//
// Deterministic for a seed and thread count: the windows of step s are a function of
// (seed, s) only, and every reduction has a fixed order, so a run resumed from a checkpoint of
// step s continues exactly as the uninterrupted run.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/engine_teacher.h"
#include "train/teacher_cache.h"
#include "train/train_shape.h"

namespace jisu::train {

struct TrainOptions {
  int64_t steps = 766;       // the schedule's length
  int64_t stop_at = 0;       // stop after this step (as if interrupted; resume later); 0: steps
  size_t batch = 16;        // windows per micro-batch
  size_t seq_len = 128;     // tokens per window
  size_t grad_accum = 1;    // micro-batches per optimizer step
  double learning_rate = 2e-3;
  int64_t warmup = 50;
  AdamWOptions adamw;
  double clip = 1.0;        // global gradient-norm clip; 0: off
  uint64_t seed = 1;
  int64_t eval_every = 25;  // validation perplexity every this many steps (and at the end); 0: only at the end
  size_t eval_windows = 32;
  int64_t save_every = 100; // checkpoint every this many steps (and at the end); 0: only at the end
  int64_t log_every = 10;
  // Distillation (with a teacher): loss = alpha CE + (1 - alpha) T^2 KL(teacher_T || student_T).
  double temperature = 2.0;
  double alpha = 0.5;
};

struct TrainData {
  std::vector<int32_t> train;
  std::vector<int32_t> valid;  // may be empty: no validation
};

struct TrainReport {
  int64_t last_step = 0;
  double last_loss = 0;
  double valid_perplexity = 0;  // 0 when no validation ran
  double tokens_per_second = 0; // training tokens over the time spent in training steps
};

// Throws jisu::Error for data that does not fill one batch.
void check_training_data(const TrainData& data, const TrainOptions& options);

// Window offsets of (step, micro-batch): a function of the seed and those two numbers only.
std::vector<size_t> window_offsets(uint64_t seed, int64_t step, size_t micro_batch, size_t batch, size_t n_tokens,
                                   size_t seq_len);

// Runs steps optimizer.step + 1 .. options.steps, updating params and optimizer. save(step) is
// called every save_every steps and at the end, only with finite parameters. A non-finite loss
// or gradient stops the run with jisu::Error (the last saved checkpoint is left as it was).
// With a teacher cache the distillation loss is the top-k one (distillation_loss_top_k): read
// from the cache when it exists (the teacher may then be null), else computed from the teacher
// and appended, the file committed when the run reaches options.steps (a cache is written only
// by a run from step 1 to the end: jisu::Error before any step otherwise).
TrainReport run_training(const TrainShape& shape, std::vector<float>& params, OptimizerState& optimizer,
                         const TrainData& data, const TrainOptions& options, ThreadPool& pool, EngineTeacher* teacher,
                         const std::function<void(int64_t step)>& save, std::FILE* log,
                         TeacherTopKCache* teacher_cache = nullptr);

// exp(mean cross-entropy) over `windows` fixed windows of `tokens` (every position scored).
double validation_perplexity(const TrainShape& shape, const std::vector<float>& params,
                             const std::vector<int32_t>& tokens, const TrainOptions& options, ThreadPool& pool);

}  // namespace jisu::train
