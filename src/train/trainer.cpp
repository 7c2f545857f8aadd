#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "train/random_stream.h"
#include "train/train_ops.h"
#include "train/transformer_gradients.h"

namespace jisu::train {
namespace {

using Clock = std::chrono::steady_clock;

// Inputs and next-token targets of windows at `offsets`.
void gather_windows(const std::vector<int32_t>& tokens, const std::vector<size_t>& offsets, size_t seq_len,
                    std::vector<int32_t>& inputs, std::vector<int32_t>& targets) {
  inputs.resize(offsets.size() * seq_len);
  targets.resize(offsets.size() * seq_len);
  for (size_t s = 0; s < offsets.size(); ++s)
    for (size_t p = 0; p < seq_len; ++p) {
      inputs[s * seq_len + p] = tokens[offsets[s] + p];
      targets[s * seq_len + p] = tokens[offsets[s] + p + 1];
    }
}

std::string format_duration(double seconds) {
  const auto total = static_cast<long long>(std::max(0.0, seconds));
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%lldh%02lldm", total / 3600, total / 60 % 60);
  else
    std::snprintf(text, sizeof text, "%lldm%02llds", total / 60, total % 60);
  return text;
}

bool all_finite(const std::vector<float>& values) {
  for (const float value : values)
    if (!std::isfinite(value)) return false;
  return true;
}

double evaluate(TransformerGradients<float>& model, size_t vocab, const std::vector<float>& params,
                const std::vector<int32_t>& tokens, const TrainOptions& options, ThreadPool& pool) {
  const size_t seq = options.seq_len, batch = options.batch;
  // Fixed windows: stream ~0 of the seed, which no training step uses.
  RandomStream random(options.seed, ~uint64_t(0));
  std::vector<size_t> offsets(options.eval_windows);
  for (auto& offset : offsets) offset = random.below(tokens.size() - seq);
  double nll = 0;
  size_t count = 0;
  std::vector<int32_t> inputs, targets;
  for (size_t first = 0; first < offsets.size(); first += batch) {
    const size_t used = std::min(batch, offsets.size() - first);
    std::vector<size_t> chunk(batch, offsets[first]);
    for (size_t s = 0; s < used; ++s) chunk[s] = offsets[first + s];
    gather_windows(tokens, chunk, seq, inputs, targets);
    // Windows that only pad the last chunk are not scored.
    std::fill(targets.begin() + std::ptrdiff_t(used * seq), targets.end(), -1);
    model.forward(params.data(), inputs.data());
    nll += cross_entropy<float>(&pool, model.logits(), targets.data(), nullptr, batch * seq, vocab, 1.0);
    count += used * seq;
  }
  return std::exp(nll / double(count));
}

}  // namespace

void check_training_data(const TrainData& data, const TrainOptions& options) {
  const size_t needed = options.batch * options.seq_len + 1;
  if (data.train.size() < needed)
    throw Error("the training text has " + std::to_string(data.train.size()) + " tokens, fewer than one batch (" +
                    std::to_string(options.batch) + " x " + std::to_string(options.seq_len) + " + 1)",
                "give a longer text or a smaller --batch / --ctx");
  if (!data.valid.empty() && data.valid.size() < options.seq_len + 1)
    throw Error("the validation text has " + std::to_string(data.valid.size()) + " tokens, fewer than one window of " +
                std::to_string(options.seq_len + 1));
}

std::vector<size_t> window_offsets(uint64_t seed, int64_t step, size_t micro_batch, size_t batch, size_t n_tokens,
                                   size_t seq_len) {
  RandomStream random(seed, uint64_t(step) * 4096 + micro_batch);
  std::vector<size_t> offsets(batch);
  for (auto& offset : offsets) offset = random.below(n_tokens - seq_len);
  return offsets;
}

double validation_perplexity(const TrainShape& shape, const std::vector<float>& params,
                             const std::vector<int32_t>& tokens, const TrainOptions& options, ThreadPool& pool) {
  TransformerGradients<float> model(shape, options.batch, options.seq_len, &pool);
  return evaluate(model, size_t(shape.n_vocab), params, tokens, options, pool);
}

TrainReport run_training(const TrainShape& shape, std::vector<float>& params, OptimizerState& optimizer,
                         const TrainData& data, const TrainOptions& options, ThreadPool& pool, EngineTeacher* teacher,
                         const std::function<void(int64_t step)>& save, std::FILE* log,
                         TeacherTopKCache* teacher_cache) {
  check_training_data(data, options);
  if (options.grad_accum == 0 || options.grad_accum > 4096) throw Error("--grad-accum must be 1 to 4096");
  const size_t n = params.size(), seq = options.seq_len, batch = options.batch, vocab = size_t(shape.n_vocab);
  if (optimizer.m.size() != n) {
    optimizer.m.assign(n, 0.0f);
    optimizer.v.assign(n, 0.0f);
  }
  TransformerGradients<float> model(shape, batch, seq, &pool);
  if (model.layout().total() != n) throw Error("parameter count does not match the model shape");
  std::vector<float> grads(n), teacher_logits(teacher ? batch * seq * vocab : 0);
  const size_t top_k = teacher_cache ? teacher_cache->key().k : 0;
  std::vector<int32_t> top_ids(batch * seq * top_k);
  std::vector<float> top_log_probs(batch * seq * top_k);
  if (teacher_cache) {
    const TeacherCacheKey& key = teacher_cache->key();
    if (key.vocab != vocab || key.positions() != batch * seq || key.grad_accum != options.grad_accum ||
        key.steps != uint64_t(options.steps) || key.seed != options.seed || key.temperature != options.temperature)
      throw Error("the teacher cache was opened for another run shape");
    if (!teacher_cache->reading() && !teacher) throw Error("writing a teacher cache needs the teacher");
  }
  std::vector<int32_t> inputs, targets;
  const LearningRateSchedule schedule{options.learning_rate, options.warmup, options.steps, 0.1};
  const double scale = 1.0 / double(batch * seq * options.grad_accum);
  const size_t tokens_per_step = batch * seq * options.grad_accum;
  TrainReport report;
  report.last_step = optimizer.step;
  double train_seconds = 0;
  int64_t steps_run = 0, last_saved = -1;
  const auto validate = [&](int64_t step) {
    if (data.valid.empty()) return;
    report.valid_perplexity = evaluate(model, vocab, params, data.valid, options, pool);
    std::fprintf(log, "step %lld/%lld  valid perplexity %.4f\n", (long long)step, (long long)options.steps,
                 report.valid_perplexity);
    std::fflush(log);
  };
  const auto checkpoint = [&](int64_t step) {
    if (!all_finite(params))
      throw Error("the parameters became non-finite at step " + std::to_string(step) + "; " +
                  (last_saved >= 0 ? "the last good checkpoint (step " + std::to_string(last_saved) + ") is kept"
                                   : std::string("no checkpoint was written")),
                  "lower --lr or raise --warmup");
    save(step);
    last_saved = step;
  };

  const int64_t last = options.stop_at > 0 ? std::min(options.stop_at, options.steps) : options.steps;
  if (teacher_cache && !teacher_cache->reading() && (optimizer.step != 0 || last != options.steps))
    throw Error("the teacher cache is written by a run from step 1 to the last step (this one runs steps " +
                    std::to_string(optimizer.step + 1) + " to " + std::to_string(last) + ")",
                "run without --resume / --stop-at once to write it, or drop --teacher-cache");
  for (int64_t step = optimizer.step + 1; step <= last; ++step) {
    const auto start = Clock::now();
    std::fill(grads.begin(), grads.end(), 0.0f);
    double loss = 0;
    for (size_t micro = 0; micro < options.grad_accum; ++micro) {
      gather_windows(data.train, window_offsets(options.seed, step, micro, batch, data.train.size(), seq), seq, inputs,
                     targets);
      model.forward(params.data(), inputs.data());
      if (teacher_cache) {
        if (teacher_cache->reading()) {
          teacher_cache->read(step, micro, top_ids.data(), top_log_probs.data());
        } else {
          teacher->logits(inputs.data(), teacher_logits.data());
          teacher_top_k(&pool, teacher_logits.data(), batch * seq, vocab, top_k, options.temperature, top_ids.data(),
                        top_log_probs.data());
          teacher_cache->append(step, micro, top_ids.data(), top_log_probs.data());
        }
        loss += distillation_loss_top_k<float>(&pool, model.logits(), top_ids.data(), top_log_probs.data(), top_k,
                                               targets.data(), model.logits_gradient(), batch * seq, vocab,
                                               options.temperature, options.alpha, scale) * scale;
      } else if (teacher) {
        teacher->logits(inputs.data(), teacher_logits.data());
        loss += distillation_loss<float>(&pool, model.logits(), teacher_logits.data(), targets.data(),
                                         model.logits_gradient(), batch * seq, vocab, options.temperature,
                                         options.alpha, scale) * scale;
      } else {
        loss += cross_entropy<float>(&pool, model.logits(), targets.data(), model.logits_gradient(), batch * seq,
                                     vocab, scale) * scale;
      }
      if (!std::isfinite(loss)) break;
      model.backward(params.data(), grads.data());
    }
    const double norm = std::isfinite(loss) ? clip_gradient_norm(&pool, grads.data(), n, options.clip) : NAN;
    if (!std::isfinite(loss) || !std::isfinite(norm))
      throw Error(std::string(std::isfinite(loss) ? "the gradient" : "the loss") + " became NaN or infinite at step " +
                      std::to_string(step) + "; training stopped, " +
                      (last_saved >= 0 ? "the last good checkpoint (step " + std::to_string(last_saved) + ") is kept"
                                       : std::string("no checkpoint was written")),
                  "lower --lr or raise --warmup");
    const double lr = learning_rate_at(schedule, step);
    adamw_step(&pool, params.data(), grads.data(), optimizer.m.data(), optimizer.v.data(), n, step, lr, options.adamw);
    optimizer.step = step;
    report.last_step = step;
    report.last_loss = loss;
    train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    ++steps_run;
    report.tokens_per_second = double(steps_run * int64_t(tokens_per_step)) / train_seconds;
    if (options.log_every > 0 && (step % options.log_every == 0 || step == last || steps_run == 1)) {
      const double eta = double(last - step) * train_seconds / double(steps_run);
      std::fprintf(log, "step %lld/%lld  loss %.4f  lr %.3e  grad-norm %.3f  %.0f tokens/s  ETA %s\n",
                   (long long)step, (long long)options.steps, loss, lr, norm, report.tokens_per_second,
                   format_duration(eta).c_str());
      std::fflush(log);
    }
    if (options.eval_every > 0 && step % options.eval_every == 0 && step != last) validate(step);
    if (options.save_every > 0 && step % options.save_every == 0 && step != last) checkpoint(step);
  }
  if (steps_run > 0 || last_saved < 0) {
    validate(report.last_step);
    checkpoint(report.last_step);
  }
  if (teacher_cache && !teacher_cache->reading()) teacher_cache->commit();
  return report;
}

}  // namespace jisu::train
