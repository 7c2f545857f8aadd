#include "models/grid_forward.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "models/batch_validation.h"
#include "models/forward_factory.h"
#include "models/pipeline_stages.h"
#include "models/tensor_shards.h"
#include "models/transformer.h"

namespace jisu {
namespace {

size_t as_size(int64_t value) { return static_cast<size_t>(value); }

// What rank 0 broadcasts before each step's payload.
enum StepKind : int64_t { kStep = 1, kHeartbeat = 2, kStop = 3 };
struct StepHeader {
  int64_t kind = 0;
  int64_t n_tokens = 0;
  int64_t n_table_ints = 0;
  int64_t parts = 0;  // micro-batches the step is cut into
};
constexpr int kLogitsTag = 1 << 20;

// One rank's answer at an agreement point: what it loaded, with which options, and its error.
struct SetupReport {
  uint64_t model_hash = 0;
  uint64_t options_hash = 0;
  int32_t failed = 0;
  char message[244] = {};
};

struct Fnv {
  uint64_t value = 1469598103934665603ull;
  void add(const void* data, size_t bytes) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < bytes; ++i) value = (value ^ p[i]) * 1099511628211ull;
  }
  template <class T>
  void add_value(const T& v) {
    add(&v, sizeof v);
  }
};

// The model's identity without reading it all: the shape, every matrix's name, type and size
// and its first and last bytes, and the norm weights. Two different files (another model,
// quantization or random seed) differ here.
uint64_t model_fingerprint(const ModelConfig& config, const ModelWeights& weights) {
  Fnv hash;
  for (int32_t value : {config.n_embd, config.n_head, config.n_head_kv, config.head_dim, config.n_ff, config.n_vocab,
                        config.n_expert, config.n_layer})
    hash.add_value(value);
  const auto matrix = [&](const WeightMatrix& m) {
    if (!m.present()) return;
    hash.add(m.name.data(), m.name.size());
    hash.add_value(m.type);
    hash.add_value(m.rows);
    hash.add_value(m.cols);
    const size_t edge = std::min<size_t>(64, m.bytes());
    hash.add(m.data, edge);
    hash.add(static_cast<const uint8_t*>(m.data) + m.bytes() - edge, edge);
  };
  const auto vector = [&](const std::vector<float>& v) { hash.add(v.data(), v.size() * sizeof(float)); };
  matrix(weights.token_embedding);
  matrix(weights.output);
  vector(weights.output_norm);
  for (const LayerWeights& layer : weights.layers) {
    for (const WeightMatrix* m : {&layer.wq, &layer.wk, &layer.wv, &layer.wqkv, &layer.wo, &layer.ffn_gate, &layer.ffn_up,
                                  &layer.ffn_gate_up, &layer.ffn_down, &layer.ffn_router, &layer.experts_gate,
                                  &layer.experts_up, &layer.experts_down})
      matrix(*m);
    vector(layer.attn_norm);
    vector(layer.ffn_norm);
  }
  return hash.value;
}

// Every rank reports; every rank then throws the same kind of error, or none: its own, else
// the first failed rank's, else a model or option mismatch.
void agree(Communicator& world, SetupReport mine, const char* stage) {
  std::vector<SetupReport> all(as_size(world.size()));
  world.all_gather(&mine, sizeof mine, all.data());
  if (mine.failed) throw Error(mine.message);
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r].failed) throw Error("rank " + std::to_string(r) + " failed " + stage + ": " + all[r].message);
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r].model_hash != all[0].model_hash)
      throw Error("rank " + std::to_string(r) + " loaded a different model than rank 0",
                  "start every rank with the same -m file");
    if (all[r].options_hash != all[0].options_hash)
      throw Error("rank " + std::to_string(r) + " was started with other options than rank 0",
                  "give every rank the same flags");
  }
}

void report_error(SetupReport& report, const std::exception& error) {
  report.failed = 1;
  const std::string text = dynamic_cast<const Error*>(&error) ? static_cast<const Error&>(error).one_line() : error.what();
  std::snprintf(report.message, sizeof report.message, "%s", text.c_str());
}

// A broken grid cannot be recovered: every rank leaves with one line and a non-zero status
// (without MPI_Finalize, which would wait for the dead peer).
[[noreturn]] void leave_broken_grid(const CommunicationError& error) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", error.one_line().c_str());
  std::fflush(stderr);
  ::_exit(1);
}

class GridForward final : public ForwardPass {
 public:
  GridForward(GridPosition position, const DeviceOptions& device, const ModelConfig& config,
              const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens, const KvCache& cache)
      : grid_(std::move(position)),
        options_(device.grid),
        config_(config),
        max_batch_tokens_(max_batch_tokens),
        interval_(std::chrono::duration<double>(device.grid.timeout_seconds / 4)) {
    Communicator& world = *grid_.world;
    // Phase 1: checks every rank can make without communicating, and what to compare.
    SetupReport report;
    try {
      report.model_hash = model_fingerprint(config, weights);
      Fnv options;
      const KvGeometry geometry = cache.geometry();
      options.add_value(max_batch_tokens);
      options.add_value(geometry.n_blocks);
      options.add_value(geometry.block_size);
      options.add_value(geometry.max_table_entries);
      options.add_value(options_.micro_batches);
      options.add_value(device.device);
      report.options_hash = options.value;
      if (options_.pipeline_parallel > config.n_layer)
        throw Error("--pp " + std::to_string(options_.pipeline_parallel) + " exceeds the model's " +
                        std::to_string(config.n_layer) + " layers",
                    "use at most one pipeline stage per layer");
      check_tensor_split(config, options_.tensor_parallel);
      if (options_.micro_batches < 0) throw Error("--micro-batches cannot be negative");
    } catch (const std::exception& error) {
      report_error(report, error);
    }
    agree(world, report, "its checks");

    // Phase 2: load this rank's share.
    report = {};
    try {
      layers_ = pipeline_stage_layers(config, weights, grid_.tensor_size, grid_.pipeline_rank, grid_.pipeline_size);
      shard_ = make_tensor_shard(config, weights, grid_.tensor_rank, grid_.tensor_size, layers_);
      std::vector<Stage> stages;
      stages.push_back({make_backend(device.device, shard_->config, pool, grid_.tensor.get()),
                        static_cast<int32_t>(layers_.count)});
      transformer_ = std::make_unique<Transformer>(shard_->config, shard_->weights, std::move(stages), max_batch_tokens,
                                                   cache, static_cast<int32_t>(layers_.first));
      const size_t d = as_size(config.n_embd), tokens = as_size(max_batch_tokens);
      if (!first_stage()) hidden_in_.resize(tokens * d);
      if (!last_stage()) hidden_out_.resize(tokens * d);
      if (last_stage() && grid_.world_rank != 0) logits_.resize(tokens * as_size(config.n_vocab));
      local_vocab_ = as_size(shard_->config.n_vocab);
      if (last_stage() && local_vocab_ != as_size(config.n_vocab)) {
        vocab_part_.resize(tokens * local_vocab_);
        vocab_gathered_.resize(tokens * as_size(config.n_vocab));
      }
      const size_t max_sequences = as_size(cache.max_sequences());
      payload_.resize(4 * tokens + 2 * max_sequences + as_size(cache.geometry().max_table_entries));
      seen_.assign(max_sequences, 0);
      batch_.reserve(tokens);
      part_.reserve(tokens);
      if (grid_.world_rank != 0) {
        KvCacheOptions mirror;
        mirror.block_size = cache.block_size();
        mirror.n_blocks = cache.geometry().n_blocks;
        mirror.max_sequences = cache.max_sequences();
        mirror.context_length = cache.context_length();
        mirror_ = std::make_unique<KvCache>(cache.context_length(), mirror);
      }
    } catch (const std::exception& error) {
      report_error(report, error);
    }
    agree(world, report, "to load");
    last_step_ = std::chrono::steady_clock::now();
    if (grid_.world_rank == 0) heartbeat_ = std::thread([this] { send_heartbeats(); });
  }

  ~GridForward() override {
    if (grid_.world_rank != 0) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    heartbeat_.join();
    try {
      StepHeader header{kStop};
      grid_.world->broadcast(&header, sizeof header, 0);
    } catch (const CommunicationError&) {
      // The others are gone already; nothing to tell them.
    }
  }

  bool leader() const { return grid_.world_rank == 0; }
  int32_t max_batch_tokens() const override { return max_batch_tokens_; }
  size_t prepared_weight_bytes() const override { return transformer_->prepared_weight_bytes(); }
  double prepare_ms() const override { return transformer_->prepare_ms(); }
  void set_linear_observer(LinearObserver* observer) override {
    if (observer) throw Error("the importance matrix is collected in one process", "run without mpirun, --tp and --pp");
  }

  // Rank 0: validate, broadcast the step, run this rank's part, receive the logits.
  void forward_hidden(const Batch&, KvCache&, float*) override {
    throw Error("encoder (embedding) models do not run on a process grid yet", "run without --tp and --pp");
  }

  // One step whole: cut into micro-batches (default one per stage) so that the stages overlap
  // within it.
  void forward(const Batch& batch, KvCache& cache, float* logits) override {
    const size_t parts = options_.micro_batches > 0 ? as_size(options_.micro_batches) : as_size(grid_.pipeline_size);
    begin_step(batch, cache, logits, parts);
    finish_forward();
  }

  // Steps of disjoint sequence groups overlap across stages instead (the serving engine keeps
  // pipeline_depth() of them in flight), so each stays one part unless --micro-batches says
  // otherwise: smaller parts only cost matrix-multiply efficiency.
  int32_t pipeline_depth() const override { return grid_.pipeline_size; }
  void start_forward(const Batch& batch, KvCache& cache, float* logits) override {
    begin_step(batch, cache, logits, options_.micro_batches > 0 ? as_size(options_.micro_batches) : 1);
  }

  void finish_forward() override {
    std::lock_guard lock(mutex_);
    JISU_ASSERT(in_flight_ > 0);
    --in_flight_;
    if (grid_.pipeline_size == 1) return;  // rank 0 is the last stage: the logits are there
    try {
      grid_.world->wait_oldest_receive();
    } catch (const CommunicationError& error) {
      leave_broken_grid(error);
    }
    last_step_ = std::chrono::steady_clock::now();
  }

  // Other ranks: follow rank 0's steps until it stops.
  void follow_steps() {
    try {
      for (;;) {
        StepHeader header;
        grid_.world->broadcast(&header, sizeof header, 0);
        if (header.kind == kStop) return;
        if (header.kind == kHeartbeat) continue;
        if (header.kind != kStep || header.n_tokens <= 0 || header.n_tokens > max_batch_tokens_ ||
            header.n_table_ints < 0 || as_size(header.n_tokens * 4 + header.n_table_ints) > payload_.size() ||
            header.parts < 1 || header.parts > header.n_tokens)
          throw Error("rank 0 sent a malformed step");
        grid_.world->broadcast(payload_.data(), as_size(header.n_tokens * 4 + header.n_table_ints) * sizeof(int32_t), 0);
        unpack_step(header);
        run_step(batch_, *mirror_, logits_.data(), as_size(header.parts));
      }
    } catch (const CommunicationError& error) {
      leave_broken_grid(error);
    }
  }

 private:
  bool first_stage() const { return grid_.pipeline_rank == 0; }

  // Rank 0: validate, broadcast the step, post the receive of its logits (from the last stage;
  // posted first, so that the last stage's send completes while this rank already works on the
  // next step), then run this rank's layers.
  void begin_step(const Batch& batch, KvCache& cache, float* logits, size_t parts) {
    std::lock_guard lock(mutex_);
    JISU_ASSERT(in_flight_ < grid_.pipeline_size);
    validate_and_reserve_batch(batch, cache, config_.n_vocab, max_batch_tokens_);
    try {
      const StepHeader header = pack_step(batch, cache, std::min(parts, batch.size()));
      grid_.world->broadcast(const_cast<StepHeader*>(&header), sizeof header, 0);
      grid_.world->broadcast(payload_.data(), as_size(header.n_tokens * 4 + header.n_table_ints) * sizeof(int32_t), 0);
      if (grid_.pipeline_size > 1)
        grid_.world->start_receive(logits, batch.n_outputs() * as_size(config_.n_vocab) * sizeof(float), last_stage_leader(),
                                   kLogitsTag);
      run_step(batch, cache, logits, as_size(header.parts));
    } catch (const CommunicationError& error) {
      leave_broken_grid(error);
    }
    ++in_flight_;
    for (size_t t = 0; t < batch.size(); ++t) cache.set_length(batch.sequences[t], batch.positions[t] + 1);
    last_step_ = std::chrono::steady_clock::now();
  }
  int last_stage_leader() const { return (grid_.pipeline_size - 1) * grid_.tensor_size; }
  bool last_stage() const { return grid_.pipeline_rank + 1 == grid_.pipeline_size; }

  // payload_: tokens, positions, sequences, wants_logits (n each), then per sequence of the
  // batch (first appearance): id, table length, the table.
  StepHeader pack_step(const Batch& batch, const KvCache& cache, size_t parts) {
    const size_t n = batch.size();
    int32_t* out = payload_.data();
    for (size_t t = 0; t < n; ++t) {
      out[t] = batch.tokens[t];
      out[n + t] = batch.positions[t];
      out[2 * n + t] = batch.sequences[t];
      out[3 * n + t] = batch.wants_logits[t];
    }
    size_t at = 4 * n;
    for (size_t t = 0; t < n; ++t) {
      const int32_t sequence = batch.sequences[t];
      if (seen_[as_size(sequence)]) continue;
      seen_[as_size(sequence)] = 1;
      const std::vector<int32_t>& table = cache.block_table(sequence);
      out[at++] = sequence;
      out[at++] = static_cast<int32_t>(table.size());
      std::copy(table.begin(), table.end(), out + at);
      at += table.size();
    }
    for (size_t t = 0; t < n; ++t) seen_[as_size(batch.sequences[t])] = 0;
    return {kStep, static_cast<int64_t>(n), static_cast<int64_t>(at - 4 * n), static_cast<int64_t>(parts)};
  }

  void unpack_step(const StepHeader& header) {
    const auto n = as_size(header.n_tokens);
    const int32_t* in = payload_.data();
    batch_.clear();
    for (size_t t = 0; t < n; ++t) {
      if (in[t] < 0 || in[t] >= config_.n_vocab) throw Error("rank 0 sent a token outside the vocabulary");
      batch_.add(in[t], in[n + t], in[2 * n + t], in[3 * n + t] != 0);
    }
    const int32_t* tables = in + 4 * n;
    const auto total = as_size(header.n_table_ints);
    for (size_t at = 0; at + 2 <= total;) {
      const auto length = as_size(std::max(0, tables[at + 1]));
      if (at + 2 + length > total) throw Error("rank 0 sent a malformed block table");
      mirror_->mirror_table(tables[at], std::span(tables + at + 2, length));
      at += 2 + length;
    }
  }

  // Every rank: this rank's layers over the batch, in `parts` micro-batches when pipelined. The
  // last stage sends rank 0 the logits (an empty message when the step wants none: rank 0
  // posted a receive for every step).
  void run_step(const Batch& batch, const KvCache& cache, float* logits, size_t parts) {
    Communicator& world = *grid_.world;
    const size_t n = batch.size(), d = as_size(config_.n_embd), vocab = as_size(config_.n_vocab);
    if (grid_.pipeline_size == 1) parts = 1;
    const int previous = grid_.world_rank - grid_.tensor_size, next = grid_.world_rank + grid_.tensor_size;
    size_t outputs = 0;
    for (size_t p = 0; p < parts; ++p) {
      const size_t begin = n * p / parts, end = n * (p + 1) / parts, rows = end - begin;
      const Batch* part = &batch;
      if (parts > 1) {
        part_.clear();
        for (size_t t = begin; t < end; ++t)
          part_.add(batch.tokens[t], batch.positions[t], batch.sequences[t], batch.wants_logits[t] != 0);
        part = &part_;
      }
      const float* hidden_in = nullptr;
      if (!first_stage()) {
        world.receive(hidden_in_.data() + begin * d, rows * d * sizeof(float), previous, static_cast<int>(p));
        hidden_in = hidden_in_.data() + begin * d;
      }
      float* hidden_out = last_stage() ? nullptr : hidden_out_.data() + begin * d;
      float* head = !last_stage() ? nullptr : vocab_part_.empty() ? logits + outputs * vocab : vocab_part_.data() + outputs * local_vocab_;
      transformer_->run_part(*part, cache, hidden_in, hidden_out, head);
      if (hidden_out) world.start_send(hidden_out, rows * d * sizeof(float), next, static_cast<int>(p));
      outputs += part->n_outputs();
    }
    world.wait_sends();
    if (last_stage() && !vocab_part_.empty() && outputs > 0) gather_vocabulary(outputs, logits);
    if (grid_.pipeline_size > 1 && last_stage() && grid_.tensor_rank == 0) {
      world.start_send(logits, outputs * vocab * sizeof(float), 0, kLogitsTag);
      world.wait_sends();
    }
  }

  // The output layer split by vocabulary: every tensor rank of the last stage holds
  // [outputs][n_vocab / N]; tensor rank 0 assembles [outputs][n_vocab] in `logits`.
  void gather_vocabulary(size_t outputs, float* logits) {
    const size_t part = outputs * local_vocab_, vocab = as_size(config_.n_vocab);
    grid_.tensor->all_gather(vocab_part_.data(), part * sizeof(float), vocab_gathered_.data());
    if (grid_.tensor_rank != 0) return;
    for (size_t r = 0; r < as_size(grid_.tensor_size); ++r)
      for (size_t row = 0; row < outputs; ++row)
        std::memcpy(logits + row * vocab + r * local_vocab_, vocab_gathered_.data() + r * part + row * local_vocab_,
                    local_vocab_ * sizeof(float));
  }

  // Rank 0 while idle: a heartbeat every quarter of the timeout, so that the other ranks'
  // wait for the next step stays bounded by the timeout too.
  void send_heartbeats() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, interval_);
      if (stopping_) return;
      if (std::chrono::steady_clock::now() - last_step_ < interval_) continue;
      try {
        StepHeader header{kHeartbeat};
        grid_.world->broadcast(&header, sizeof header, 0);
        last_step_ = std::chrono::steady_clock::now();
      } catch (const CommunicationError& error) {
        leave_broken_grid(error);
      }
    }
  }

  GridPosition grid_;
  GridOptions options_;
  const ModelConfig& config_;
  int32_t max_batch_tokens_;
  ShardRange layers_;
  std::unique_ptr<TensorShard> shard_;
  std::unique_ptr<Transformer> transformer_;
  std::unique_ptr<KvCache> mirror_;  // ranks other than 0: rank 0's block tables
  std::vector<float> hidden_in_, hidden_out_, logits_;
  size_t local_vocab_ = 0;                              // this rank's share of the output layer
  std::vector<float> vocab_part_, vocab_gathered_;      // split output: [tokens][share], [N][tokens][share]
  std::vector<int32_t> payload_;
  std::vector<uint8_t> seen_;
  Batch batch_, part_;

  // Rank 0: one step or heartbeat at a time (MPI_THREAD_SERIALIZED).
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int32_t in_flight_ = 0;  // steps started and not finished
  std::chrono::steady_clock::time_point last_step_;
  std::chrono::duration<double> interval_;
  std::thread heartbeat_;
};

}  // namespace

std::unique_ptr<ForwardPass> make_grid_forward(const DeviceOptions& device, const ModelConfig& config,
                                               const ModelWeights& weights, ThreadPool& pool, int32_t max_batch_tokens,
                                               const KvCache& cache) {
  auto forward = std::make_unique<GridForward>(join_grid(device.grid), device, config, weights, pool, max_batch_tokens,
                                               cache);
  if (forward->leader()) return forward;
  forward->follow_steps();
  forward.reset();
  throw GridWorkerFinished{0};
}

}  // namespace jisu
