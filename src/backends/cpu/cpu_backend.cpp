#include "backends/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "backends/cpu/attention.h"
#include "backends/cpu/float_tile_matmul.h"
#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/nm_repacked.h"
#include "backends/cpu/int8_sparse_matmul.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/kv_quantize.h"
#include "backends/cpu/ops.h"
#include "backends/cpu/quant_kernels.h"
#include "backends/cpu/repacked_tile_choice.h"
#include "core/arena.h"
#include "core/mapped_file.h"
#include "core/error.h"
#include "core/sparse_dtype.h"
#include "parallel/communicator.h"

namespace jisu::cpu {
namespace {

size_t as_size(int64_t value) { return static_cast<size_t>(value); }

// A matrix in the mapped file, with its repacked copy when the integer kernels have one.
class CpuLinear final : public LinearWeight {
 public:
  CpuLinear(const WeightMatrix& matrix, std::shared_ptr<const RepackedWeights> repacked, size_t repacked_group,
            int64_t slice = 0, std::vector<std::string> stacked_names = {})
      : LinearWeight(matrix.rows, matrix.cols),
        matrix_(matrix),
        repacked_(std::move(repacked)),
        group_(repacked_group),
        slice_(slice),
        stacked_names_(std::move(stacked_names)) {}

  // A stack of several matrices (prepare_linear_stack) has no rows of its own in the file
  // (data is null) and always a repacked copy.
  const WeightMatrix& matrix() const { return matrix_; }
  // The stacked matrices' names, which an observer sees one by one; empty for one matrix.
  const std::vector<std::string>& stacked_names() const { return stacked_names_; }
  // Copy in groups of 8 interleaved rows, shared by the slices of one stacked tensor, whose rows
  // start at group repacked_group(); or null.
  const RepackedWeights* repacked() const { return repacked_.get(); }
  size_t repacked_group() const { return group_; }
  std::shared_ptr<const RepackedWeights> repacked_shared() const { return repacked_; }
  int64_t slice() const { return slice_; }  // expert index in a stacked tensor, else 0

 private:
  WeightMatrix matrix_;
  std::shared_ptr<const RepackedWeights> repacked_;
  size_t group_;
  int64_t slice_;
  std::vector<std::string> stacked_names_;
};

// A jisu-only sparse matrix (sparse_blocks.h) in the mapped file, read in place by the sparse
// int8 kernels (int8_sparse_matmul.h); its rows were checked once at load (check_sparse_rows).
// A 2:4 matrix may also have a repacked copy in groups of 8 rows (nm_repacked.h), which the
// AVX-512 paths with VBMI read instead.
class CpuSparseLinear final : public LinearWeight {
 public:
  CpuSparseLinear(const WeightMatrix& matrix, int64_t slice, std::unique_ptr<NmRepackedWeights> repacked = nullptr)
      : LinearWeight(matrix.rows, matrix.cols), matrix_(matrix), slice_(slice), repacked_(std::move(repacked)) {}
  const WeightMatrix& matrix() const { return matrix_; }
  int64_t slice() const { return slice_; }
  const NmRepackedWeights* repacked() const { return repacked_.get(); }

 private:
  WeightMatrix matrix_;
  int64_t slice_;
  std::unique_ptr<NmRepackedWeights> repacked_;
};

// A low-rank pair W ~= A B (format/weight_matrix.h: LowRankFactors), run as two products
// through the backend's scratch rows (planned once in plan_buffers for the largest rank).
class CpuLowRankLinear final : public LinearWeight {
 public:
  CpuLowRankLinear(const WeightMatrix& product, std::unique_ptr<CpuLinear> a, std::unique_ptr<CpuLinear> b)
      : LinearWeight(product.rows, product.cols), name_(product.name), a_(std::move(a)), b_(std::move(b)) {}

  const std::string& name() const { return name_; }
  const CpuLinear& a() const { return *a_; }  // rows x rank, applied second
  const CpuLinear& b() const { return *b_; }  // rank x cols, applied first
  size_t rank() const { return as_size(b_->rows()); }

 private:
  std::string name_;
  std::unique_ptr<CpuLinear> a_, b_;
};

// The int8 activation layouts: blocks of 32 (ActivationBlock) or super-blocks of 256
// (ActivationSuperBlock, for the K-quants).
// Blocks / SuperBlocks: int8 copies in quantized_; SplitBf16: bf16 hi/lo tiles in split_x_.
enum class ActivationFormat { Blocks, SuperBlocks, SplitBf16 };

class CpuBackend final : public Backend {
 public:
  CpuBackend(const TransformerShape& shape, ThreadPool& pool, Communicator* tensor_group)
      : shape_(shape), pool_(pool), tensor_group_(tensor_group), one_group_tiles_(!repacked_tile_choice().two_groups) {}

  std::string name() const override { return "cpu"; }

  void check_supported(const TransformerShape&, bool) const override {}

  std::unique_ptr<LinearWeight> prepare_linear(const WeightMatrix& file_matrix, bool original_read_later) override {
    if (file_matrix.low_rank) {
      JISU_ASSERT(!arena_);  // the scratch rows for the largest rank are planned after every linear
      const LowRankFactors& factors = *file_matrix.low_rank;
      auto a = prepare_file_linear(factors.a, /*original_read_later=*/false);
      auto b = prepare_file_linear(factors.b, /*original_read_later=*/false);
      max_rank_ = std::max(max_rank_, as_size(factors.rank()));
      return std::make_unique<CpuLowRankLinear>(file_matrix, std::move(a), std::move(b));
    }
    check_type(file_matrix);
    if (takes_sparse_int8(file_matrix.type)) {
      if (file_matrix.is_column_shard())
        throw Error("tensor '" + file_matrix.name + "' is in a jisu sparse type, which --tp cannot split by columns",
                    "run it without --tp, or prune with --dense-output");
      return prepare_sparse(file_matrix, 0);
    }
    const WeightMatrix matrix = file_matrix.is_column_shard() ? copy_columns(file_matrix) : file_matrix;
    return prepare_file_linear(matrix, original_read_later);
  }

  std::vector<std::unique_ptr<LinearWeight>> prepare_linear_slices(const WeightMatrix& stacked,
                                                                   int64_t n_slices) override {
    check_type(stacked);
    if (takes_sparse_int8(stacked.type)) {
      check_sparse_rows(stacked.type, stacked.data, as_size(stacked.rows), stacked.row_bytes, as_size(stacked.cols),
                        stacked.name);
      std::vector<std::unique_ptr<LinearWeight>> slices;
      const int64_t rows = stacked.rows / n_slices;
      for (int64_t i = 0; i < n_slices; ++i)
        slices.push_back(std::make_unique<CpuSparseLinear>(stacked.slice_rows(i * rows, rows), i));
      return slices;
    }
    if (takes_float_tiles(stacked.type, kMinFloatTileTokens)) float_tile_weights_ = true;
    const std::shared_ptr<const RepackedWeights> repacked = repack(stacked, /*release_original=*/true);
    const int64_t rows = stacked.rows / n_slices;
    std::vector<std::unique_ptr<LinearWeight>> slices;
    for (int64_t i = 0; i < n_slices; ++i) {
      const int64_t first = i * rows;
      // The repacked copy serves a slice of whole groups; any other slice uses the file rows.
      const bool whole_groups = first % static_cast<int64_t>(kRepackRows) == 0 && rows % static_cast<int64_t>(kRepackRows) == 0;
      WeightMatrix slice = stacked.slice_rows(first, rows);
      if (slice.codebook) slice.codebook += as_size(i) * kCodebookLevels;  // one codebook per matrix
      slices.push_back(std::make_unique<CpuLinear>(slice, whole_groups ? repacked : nullptr,
                                                   whole_groups ? as_size(first) / kRepackRows : 0, i));
    }
    return slices;
  }

  // Parts of one repackable type and width, each whole groups of 8 rows, none a column shard:
  // one repacked copy, so q/k/v (or gate/up) run as one parallel region per step instead of
  // three (two), each thread streaming one longer range. Their outputs are bitwise those of the
  // parts run one by one (the same kernels on the same rows and int8 input).
  std::unique_ptr<LinearWeight> prepare_linear_stack(std::span<const WeightMatrix* const> parts) override {
    if (parts.size() < 2) return nullptr;
    std::vector<std::string> names;
    int64_t rows = 0;
    for (const WeightMatrix* part : parts) {
      if (!part->data || part->low_rank || part->is_column_shard()) return nullptr;
      names.push_back(part->name);
      rows += part->rows;
    }
    check_type(*parts.front());
    auto repacked = repack(parts, /*release_original=*/true);
    if (!repacked) return nullptr;
    WeightMatrix stack = *parts.front();
    stack.name = names.front() + " (stacked with " + std::to_string(parts.size() - 1) + " more)";
    stack.rows = rows;
    stack.data = nullptr;
    stack.in_file_mapping = false;
    return std::make_unique<CpuLinear>(stack, std::move(repacked), 0, 0, std::move(names));
  }

  const float* prepare_vector(std::span<const float> values) override {
    if (values.empty()) return nullptr;
    vectors_.emplace_back(values.begin(), values.end());
    return vectors_.back().data();
  }

  void prepare_embedding(const WeightMatrix& embedding) override {
    check_type(embedding);
    if (embedding.type == kJisuCb4 || embedding.type == kJisuI8Row)
      throw Error("tensor '" + embedding.name + "' is " + std::string(dtype_name(embedding.type)) +
                      ", which runs only as a linear weight, not as an embedding table",
                  "quantize token_embd.weight to another type (jisu quantize --token-embedding-type)");
    embedding_ = embedding;
  }

  std::vector<Activations> plan_buffers(size_t max_tokens, std::span<const size_t> columns) override {
    max_tokens_ = max_tokens;
    size_t max_input = 0;
    size_t bytes = 0;
    for (size_t cols : columns) {
      bytes += Arena::bytes_for<float>(max_tokens * cols);
      max_input = std::max(max_input, cols);
    }
    // The int8 copy of a linear's input: the widest buffer bounds every input.
    max_input = (max_input + kActivationSuperBlockElements - 1) / kActivationSuperBlockElements * kActivationSuperBlockElements;
    quantized_stride_ = std::max(int8_activation_row_bytes(max_input), int8_super_block_row_bytes(max_input));
    bytes += Arena::bytes_for<uint8_t>(max_tokens * quantized_stride_);
    const size_t split_elements = float_tile_weights_ ? split_activation_elements(max_tokens, max_input) : 0;
    bytes += Arena::bytes_for<uint16_t>(split_elements);
    // The repacked kernels' activation tiles (0 bytes where they take none): the largest of the
    // repacked types' layouts.
    size_t activation_tiles_size = 0;
    for (DType type : {DType::Q4_0, DType::Q8_0, DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K})
      activation_tiles_size = std::max(activation_tiles_size, repacked_activation_tiles_bytes(type, max_tokens / kActivationTileTokens, max_input));
    bytes += Arena::bytes_for<uint8_t>(activation_tiles_size);
    bytes += Arena::bytes_for<float>(max_tokens * max_rank_);
    const size_t d = as_size(shape_.n_embd), ff = as_size(shape_.n_ff);
    const size_t experts = as_size(shape_.n_expert), used = as_size(shape_.n_expert_used);
    if (shape_.is_moe()) {
      bytes += Arena::bytes_for<float>(max_tokens * experts) + Arena::bytes_for<int32_t>(max_tokens * used) +
               Arena::bytes_for<float>(max_tokens * used) + Arena::bytes_for<int32_t>(max_tokens * used) +
               Arena::bytes_for<float>(max_tokens * d) + Arena::bytes_for<float>(max_tokens * used * d) +
               2 * Arena::bytes_for<float>(max_tokens * ff) + Arena::bytes_for<float>(max_tokens * d);
    }
    const size_t tile_scratch = attention_tile_scratch_floats(attention_group_size(), shape_.head_dim);
    const size_t part_floats = attention_part_floats();
    bytes += Arena::bytes_for<float>(pool_.size() * tile_scratch) + Arena::bytes_for<float>(max_attention_parts() * part_floats);
    arena_ = std::make_unique<Arena>(bytes);
    if (tensor_group_) tensor_group_->reserve(max_tokens * as_size(shape_.n_embd));
    std::vector<Activations> buffers;
    for (size_t cols : columns) buffers.push_back({arena_->allocate<float>(max_tokens * cols), cols});
    quantized_ = arena_->allocate<uint8_t>(max_tokens * quantized_stride_);
    if (split_elements > 0) split_x_ = arena_->allocate<uint16_t>(split_elements);
    quantized_tiles_ = activation_tiles_size > 0 ? arena_->allocate<uint8_t>(activation_tiles_size) : nullptr;
    attention_scratch_ = arena_->allocate<float>(pool_.size() * tile_scratch);
    attention_scratch_stride_ = tile_scratch;
    attention_parts_ = arena_->allocate<float>(max_attention_parts() * part_floats);
    visible_end_.assign(max_tokens, 0);
    attention_work_.assign(max_tokens + max_attention_parts(), AttentionWork{});
    if (max_rank_ > 0) low_rank_scratch_ = arena_->allocate<float>(max_tokens * max_rank_);
    if (shape_.is_moe()) {
      moe_.router = arena_->allocate<float>(max_tokens * experts);
      moe_.chosen_expert = arena_->allocate<int32_t>(max_tokens * used);
      moe_.chosen_weight = arena_->allocate<float>(max_tokens * used);
      moe_.expert_rows = arena_->allocate<int32_t>(max_tokens * used);
      moe_.expert_input = arena_->allocate<float>(max_tokens * d);
      moe_.expert_output = arena_->allocate<float>(max_tokens * used * d);
      moe_.gate = arena_->allocate<float>(max_tokens * ff);
      moe_.up = arena_->allocate<float>(max_tokens * ff);
      moe_.projected = arena_->allocate<float>(max_tokens * d);
    }
    return buffers;
  }

  void plan_kv(int32_t first_layer, int32_t n_layers, const KvGeometry& geometry) override {
    check_kv_cache_types(geometry.key_type, geometry.value_type, shape_.head_dim);
    const bool rows = geometry.key_type != DType::F32 || geometry.value_type != DType::F32;
    if (rows && shape_.head_dim > kAttentionMaxHeadDim)
      throw Error("a " + std::string(dtype_name(geometry.key_type)) + "/" + std::string(dtype_name(geometry.value_type)) +
                      " KV cache takes heads of at most " + std::to_string(kAttentionMaxHeadDim) + " values; this model's have " +
                      std::to_string(shape_.head_dim),
                  "use --cache-type-k f32 --cache-type-v f32");
    first_kv_layer_ = first_layer;
    block_size_ = geometry.block_size;
    key_type_ = geometry.key_type;
    value_type_ = geometry.value_type;
    const size_t kv_dim = as_size(shape_.kv_dim());
    key_row_bytes_ = row_bytes(key_type_, kv_dim);
    value_row_bytes_ = row_bytes(value_type_, kv_dim);
    const size_t positions = as_size(geometry.n_blocks) * as_size(geometry.block_size);
    key_layer_bytes_ = positions * key_row_bytes_;
    value_layer_bytes_ = positions * value_row_bytes_;
    const size_t total = (key_layer_bytes_ + value_layer_bytes_) * as_size(n_layers);
    try {
      // 64-byte aligned storage (f32 rows are read as floats).
      keys_.assign((key_layer_bytes_ * as_size(n_layers) + 63) / 64, KvChunk{});
      values_.assign((value_layer_bytes_ * as_size(n_layers) + 63) / 64, KvChunk{});
    } catch (const std::bad_alloc&) {
      throw Error("cannot allocate the KV cache (" + std::to_string(total >> 20) + " MiB)",
                  "use a shorter context (-c), fewer KV blocks or a smaller --cache-type-k/--cache-type-v");
    }
  }

  size_t weight_bytes() const override { return repacked_bytes_; }
  size_t kv_bytes() const override { return (keys_.size() + values_.size()) * sizeof(KvChunk); }

  void begin_step(const Batch& batch, const KvCache& cache, const float* rope_cos_sin) override {
    JISU_ASSERT(batch.size() <= max_tokens_);
    batch_ = &batch;
    cache_ = &cache;
    rope_cos_sin_ = rope_cos_sin;
    n_tokens_ = batch.size();
    quantized_source_ = nullptr;
    if (!shape_.causal) find_sequence_ends(batch, cache);
    plan_attention_work();
  }

  void embed(Activations hidden) override {
    quantized_source_ = nullptr;
    const size_t d = as_size(shape_.n_embd);
    const float scale = shape_.scale_embeddings ? std::sqrt(static_cast<float>(shape_.n_embd)) : 0.0f;
    pool_.parallel_for(n_tokens_, [&](size_t t, size_t) {
      float* row = hidden.data + t * hidden.stride;
      dequantize_row(embedding_.type, embedding_.row(batch_->tokens[t]), row, d);
      if (scale != 0.0f) scale_in_place(row, scale, d);
    });
  }

  void add_position_embedding(Activations hidden, const float* table) override {
    quantized_source_ = nullptr;
    const size_t d = as_size(shape_.n_embd);
    pool_.parallel_for(n_tokens_, [&](size_t t, size_t) {
      add_in_place(hidden.data + t * hidden.stride, table + as_size(batch_->positions[t]) * d, d);
    });
  }

  void add_layer_norm(Activations hidden, Activations delta, const float* weight, const float* bias,
                      Activations out) override {
    quantized_source_ = nullptr;
    const size_t d = as_size(shape_.n_embd);
    pool_.parallel_for(n_tokens_, [&](size_t t, size_t) {
      float* row = hidden.data + t * hidden.stride;
      if (delta.data) add_in_place(row, delta.data + t * delta.stride, d);
      if (out.data) layer_norm(row, weight, bias, shape_.rms_eps, out.data + t * out.stride, d);
    });
  }

  void add_bias(Activations x, const float* bias, size_t cols, size_t n_rows) override {
    quantized_source_ = nullptr;
    pool_.parallel_for(n_rows, [&](size_t t, size_t) { add_in_place(x.data + t * x.stride, bias, cols); });
  }

  void activate(Activations x, size_t n_rows) override {
    quantized_source_ = nullptr;
    const size_t ff = as_size(shape_.n_ff);
    pool_.parallel_for(n_rows, [&](size_t t, size_t) {
      float* row = x.data + t * x.stride;
      switch (shape_.activation) {
        case FeedForwardActivation::SiLU: silu_in_place(row, ff); break;
        case FeedForwardActivation::GeluTanh: gelu_tanh_in_place(row, ff); break;
        case FeedForwardActivation::GeluErf: gelu_erf_in_place(row, ff); break;
      }
    });
  }

  void add_rms_norm(Activations hidden, Activations delta, const float* weight, Activations out) override {
    quantized_source_ = nullptr;
    const size_t d = as_size(shape_.n_embd);
    pool_.parallel_for(n_tokens_, [&](size_t t, size_t) {
      float* row = hidden.data + t * hidden.stride;
      if (delta.data) add_in_place(row, delta.data + t * delta.stride, d);
      if (out.data) rms_norm(row, weight, shape_.rms_eps, out.data + t * out.stride, d);
    });
  }

  void set_linear_observer(LinearObserver* observer) override { observer_ = observer; }

  void linear(const LinearWeight& weight, Activations x, Activations y, size_t n_rows) override {
    run_linear(weight, x, y, n_rows);
  }

  void qkv_rope_kv_write(int32_t layer, Activations qkv, const float* qkv_bias, const float* q_norm,
                         const float* k_norm) override {
    quantized_source_ = nullptr;
    const size_t head_dim = as_size(shape_.head_dim), q_dim = as_size(shape_.q_dim()), kv_dim = as_size(shape_.kv_dim());
    const size_t rope_dims = as_size(shape_.rope.dims);
    const bool neox = shape_.rope.style == RopeStyle::NeoX;
    uint8_t* keys = key_layer(layer);
    uint8_t* values = value_layer(layer);
    pool_.parallel_for(n_tokens_, [&](size_t t, size_t) {
      float* q = qkv.data + t * qkv.stride;
      float* k = q + q_dim;
      float* v = k + kv_dim;
      if (qkv_bias) add_in_place(q, qkv_bias, q_dim + 2 * kv_dim);
      const float* cos_sin = rope_cos_sin_ + t * rope_dims;
      auto rotate = [&](float* head, const float* norm) {
        if (norm) rms_norm(head, norm, shape_.rms_eps, head, head_dim);
        neox ? rope_neox(head, cos_sin, rope_dims) : rope_interleaved(head, cos_sin, rope_dims);
      };
      for (size_t h = 0; h < as_size(shape_.n_head); ++h) rotate(q + h * head_dim, q_norm);
      for (size_t h = 0; h < as_size(shape_.n_head_kv); ++h) rotate(k + h * head_dim, k_norm);
      const size_t row = as_size(cache_->row_of(batch_->sequences[t], batch_->positions[t]));
      quantize_kv_row(key_type_, k, keys + row * key_row_bytes_, kv_dim);
      quantize_kv_row(value_type_, v, values + row * value_row_bytes_, kv_dim);
    });
  }

  // One task per (work item, kv head) (plan_attention_work): a tile of a sequence's
  // consecutive tokens (attention_tile_rows: the tile's query heads of that kv head read each
  // key tile once), or one token over all its positions, or one part of a token's positions
  // (flash-decoding: parts of one query run on different threads, combined exactly after; the
  // combine rounds differently from one pass, so a split token's logits differ from the
  // unsplit ones by float rounding; splits happen only past 2 * kMinPartPositions positions
  // and depend on the step's tokens, not on the thread count).
  void attention(int32_t layer, Activations qkv, Activations out) override {
    quantized_source_ = nullptr;
    const size_t head_dim = as_size(shape_.head_dim);
    const size_t n_head_kv = as_size(shape_.n_head_kv);
    const int32_t group = attention_group_size();
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const uint8_t* keys = key_layer(layer);
    const uint8_t* values = value_layer(layer);
    pool_.parallel_for(n_attention_work_ * n_head_kv, [&](size_t task, size_t thread) {
      const AttentionWork& work = attention_work_[task / n_head_kv];
      const size_t kv_head = task % n_head_kv;
      const size_t t = as_size(work.first_token);
      const int32_t* table = cache_->block_table(batch_->sequences[t]).data();
      const size_t first_head_offset = kv_head * as_size(group) * head_dim;
      const float* queries = qkv.data + t * qkv.stride + first_head_offset;
      float* result = out.data + t * out.stride + first_head_offset;
      const KvLayerRows rows{keys, values, table, block_size_, shape_.kv_dim(), key_type_, value_type_};
      if (work.n_parts > 1) {
        attention_group_rows_part(queries, group, rows, static_cast<int32_t>(kv_head), shape_.head_dim, work.first_position,
                                  work.end_position, scale, attention_part(work.part_slot, kv_head));
      } else {
        // A single token runs the tile kernel too (one row vector), so that a token's output
        // has the same bits whether it is decoded alone or computed in a prompt's tile.
        const AttentionTile tile{queries, qkv.stride, result, out.stride, visible_end_.data() + t, work.n_tokens};
        attention_tile_rows(tile, group, rows, static_cast<int32_t>(kv_head), shape_.head_dim, scale,
                            attention_scratch_ + thread * attention_scratch_stride_);
      }
    });
    // The split tokens' parts, combined (a few thousand flops each: not worth waking the pool).
    for (size_t w = 0; w < n_attention_work_;) {
      const AttentionWork& work = attention_work_[w];
      if (work.n_parts <= 1) {
        ++w;
        continue;
      }
      const size_t t = as_size(work.first_token);
      for (size_t kv_head = 0; kv_head < n_head_kv; ++kv_head) {
        AttentionPart parts[kMaxAttentionParts];
        for (int32_t p = 0; p < work.n_parts; ++p) parts[p] = attention_part(attention_work_[w + as_size(p)].part_slot, kv_head);
        combine_attention_parts(parts, work.n_parts, group, shape_.head_dim,
                                out.data + t * out.stride + kv_head * as_size(group) * head_dim);
      }
      w += as_size(work.n_parts);
    }
  }

  void glu(Activations gate, Activations up, size_t n_rows) override {
    quantized_source_ = nullptr;
    apply_glu(gate.data, gate.stride, up.data, up.stride, n_rows);
  }

  void mixture_of_experts(const PreparedExperts& experts, Activations normed, Activations hidden) override {
    const size_t n = n_tokens_;
    const size_t d = as_size(shape_.n_embd), ff = as_size(shape_.n_ff);
    const size_t n_experts = as_size(shape_.n_expert), used = as_size(shape_.n_expert_used);

    // Routing: softmax over all experts, keep the top `used` (ties: lower index), renormalise
    // their weights to sum to one.
    run_linear(*experts.router, normed, {moe_.router, n_experts}, n);
    for (size_t t = 0; t < n; ++t) {
      float* probabilities = moe_.router + t * n_experts;
      softmax(probabilities, n_experts);
      int32_t* chosen = moe_.chosen_expert + t * used;
      float* weight = moe_.chosen_weight + t * used;
      float total = 0.0f;
      for (size_t slot = 0; slot < used; ++slot) {
        size_t best = n_experts;
        for (size_t e = 0; e < n_experts; ++e) {
          bool taken = false;
          for (size_t s = 0; s < slot; ++s) taken |= chosen[s] == static_cast<int32_t>(e);
          if (!taken && (best == n_experts || probabilities[e] > probabilities[best])) best = e;
        }
        chosen[slot] = static_cast<int32_t>(best);
        weight[slot] = probabilities[best];
        total += probabilities[best];
      }
      for (size_t slot = 0; slot < used; ++slot) weight[slot] /= total;
    }

    // Each expert runs once over all tokens routed to it, so its weights are read once per batch.
    for (size_t e = 0; e < n_experts; ++e) {
      size_t m = 0;
      for (size_t row = 0; row < n * used; ++row)
        if (moe_.chosen_expert[row] == static_cast<int32_t>(e)) moe_.expert_rows[m++] = static_cast<int32_t>(row);
      if (m == 0) continue;
      for (size_t i = 0; i < m; ++i)
        std::memcpy(moe_.expert_input + i * d, normed.data + as_size(moe_.expert_rows[i]) / used * normed.stride,
                    d * sizeof(float));
      quantized_source_ = nullptr;
      const Activations input{moe_.expert_input, d};
      run_linear(*experts.gate[e], input, {moe_.gate, ff}, m);
      run_linear(*experts.up[e], input, {moe_.up, ff}, m);
      apply_glu(moe_.gate, ff, moe_.up, ff, m);
      quantized_source_ = nullptr;
      run_linear(*experts.down[e], {moe_.gate, ff}, {moe_.projected, d}, m);
      for (size_t i = 0; i < m; ++i)
        std::memcpy(moe_.expert_output + as_size(moe_.expert_rows[i]) * d, moe_.projected + i * d, d * sizeof(float));
    }
    quantized_source_ = nullptr;

    // Weighted sum in slot order, so a token's result does not depend on the other tokens.
    pool_.parallel_for(n, [&](size_t t, size_t) {
      for (size_t slot = 0; slot < used; ++slot)
        add_scaled_in_place(hidden.data + t * hidden.stride, moe_.expert_output + (t * used + slot) * d,
                            moe_.chosen_weight[t * used + slot], d);
    });
  }

  size_t norm_wanted_rows(Activations hidden, const float* weight, Activations out) override {
    quantized_source_ = nullptr;
    const size_t d = as_size(shape_.n_embd);
    size_t n_out = 0;
    for (size_t t = 0; t < n_tokens_; ++t) {
      if (!batch_->wants_logits[t]) continue;
      rms_norm(hidden.data + t * hidden.stride, weight, shape_.rms_eps, out.data + n_out * out.stride, d);
      ++n_out;
    }
    return n_out;
  }

  void all_reduce_sum(Activations x, size_t n_rows, size_t cols) override {
    if (!tensor_group_ || tensor_group_->size() == 1) return;
    quantized_source_ = nullptr;
    if (x.stride == cols) {
      tensor_group_->all_reduce_sum(x.data, n_rows * cols);
      return;
    }
    for (size_t r = 0; r < n_rows; ++r) tensor_group_->all_reduce_sum(x.data + r * x.stride, cols);
  }

  bool writes_host_memory() const override { return true; }

  void read_logits(Activations logits, size_t n_rows, float* host) override {
    read_rows(logits, n_rows, as_size(shape_.n_vocab), host);
  }

  void read_rows(Activations from, size_t n_rows, size_t cols, float* host) override {
    for (size_t r = 0; r < n_rows; ++r)
      if (from.data + r * from.stride != host + r * cols)
        std::memcpy(host + r * cols, from.data + r * from.stride, cols * sizeof(float));
  }

  void write_rows(const float* host, size_t n_rows, size_t cols, Activations to) override {
    quantized_source_ = nullptr;
    for (size_t r = 0; r < n_rows; ++r) std::memcpy(to.data + r * to.stride, host + r * cols, cols * sizeof(float));
  }

 private:
  struct MoeBuffers {
    float* router = nullptr;          // [tokens][n_expert]
    int32_t* chosen_expert = nullptr;  // [tokens][n_expert_used]
    float* chosen_weight = nullptr;   // [tokens][n_expert_used]
    int32_t* expert_rows = nullptr;   // [tokens]: (token * n_used + slot) routed to the current expert
    float* expert_input = nullptr;    // [tokens][n_embd] gathered inputs of one expert
    float* expert_output = nullptr;   // [tokens * n_expert_used][n_embd]
    float* gate = nullptr;            // [tokens][n_ff]
    float* up = nullptr;              // [tokens][n_ff]
    float* projected = nullptr;       // [tokens][n_embd]
  };

  std::unique_ptr<CpuLinear> prepare_file_linear(const WeightMatrix& matrix, bool original_read_later) {
    check_type(matrix);
    if (takes_float_tiles(matrix.type, kMinFloatTileTokens)) float_tile_weights_ = true;
    return std::make_unique<CpuLinear>(matrix, repack(matrix, !original_read_later), 0);
  }

  static void check_type(const WeightMatrix& matrix) {
    if (!weight_type_supported(matrix.type))
      throw Error("tensor '" + matrix.name + "' has type " + std::string(dtype_name(matrix.type)) +
                  ", which jisu cannot compute with yet");
  }

  // The columns of a tensor-parallel shard as a matrix of their own, copied once at load: the
  // blocks as stored when the shard's edges fall on block boundaries, else the values as f32
  // (a K-quant's 256-value super-block split between two ranks). The file's pages of the whole
  // matrix are released afterwards (only this copy is read again), so each rank keeps ~1/N.
  WeightMatrix copy_columns(const WeightMatrix& matrix) {
    const size_t block = traits(matrix.type).block_elements;
    const auto first = as_size(matrix.column_first), cols = as_size(matrix.cols), rows = as_size(matrix.rows);
    const bool whole_blocks = first % block == 0 && cols % block == 0;
    WeightMatrix shard = matrix;
    shard.stored_cols = 0;
    shard.column_first = 0;
    if (!whole_blocks) shard.type = DType::F32;
    shard.row_bytes = row_bytes(shard.type, cols);
    shard_copies_.emplace_back(rows * shard.row_bytes);
    uint8_t* out = shard_copies_.back().data();
    std::vector<float> row_values(whole_blocks ? 0 : as_size(matrix.stored_cols));
    for (size_t r = 0; r < rows; ++r) {
      const auto* source = static_cast<const uint8_t*>(matrix.row(static_cast<int64_t>(r)));
      if (whole_blocks) {
        std::memcpy(out + r * shard.row_bytes, source + row_bytes(matrix.type, first), shard.row_bytes);
      } else {
        dequantize_row(matrix.type, source, row_values.data(), row_values.size());
        std::memcpy(out + r * shard.row_bytes, row_values.data() + first, cols * sizeof(float));
      }
    }
    if (matrix.in_file_mapping) release_mapped_pages(matrix.data, rows * matrix.row_bytes);
    shard.data = out;
    shard.in_file_mapping = false;
    return shard;
  }

  // A repacked copy when the type and shape allow one, else null. With release_original, the
  // mapped file pages of the matrix are dropped from memory afterwards: nothing reads them
  // again, and if something did, they would fault back in from the file (a read-only private
  // mapping), so this only saves resident memory. Matrices not in a file mapping keep theirs.
  std::shared_ptr<const RepackedWeights> repack(const WeightMatrix& matrix, bool release_original) {
    const WeightMatrix* parts[] = {&matrix};
    return repack(parts, release_original);
  }
  // The parts' rows in order in one copy (one type and width); null unless each can be repacked.
  std::shared_ptr<const RepackedWeights> repack(std::span<const WeightMatrix* const> parts, bool release_original) {
    std::vector<RepackSource> sources;
    for (const WeightMatrix* part : parts) {
      if (part->type != parts.front()->type || part->cols != parts.front()->cols ||
          !can_repack(part->type, as_size(part->rows), as_size(part->cols)))
        return nullptr;
      sources.push_back({part->data, part->row_bytes, as_size(part->rows)});
    }
    auto repacked = std::make_shared<const RepackedWeights>(parts.front()->type, sources, as_size(parts.front()->cols));
    repacked_bytes_ += repacked->bytes();
    for (const WeightMatrix* part : parts)
      if (release_original && part->in_file_mapping) release_mapped_pages(part->data, part->bytes());
    return repacked;
  }

  uint8_t* key_layer(int32_t layer) {
    return reinterpret_cast<uint8_t*>(keys_.data()) + as_size(layer - first_kv_layer_) * key_layer_bytes_;
  }
  uint8_t* value_layer(int32_t layer) {
    return reinterpret_cast<uint8_t*>(values_.data()) + as_size(layer - first_kv_layer_) * value_layer_bytes_;
  }

  // Attention work items of a step (see attention()). A token's query heads for one kv head
  // are `group` consecutive heads.
  struct AttentionWork {
    int32_t first_token = 0;
    int32_t n_tokens = 0;       // > 1: a tile of consecutive tokens of one sequence
    int32_t n_parts = 1;        // > 1: this item is part of a split token's positions
    int32_t first_position = 0, end_position = 0;  // the part's positions
    int32_t part_slot = 0;      // its storage (attention_part)
  };
  // Positions below which a token's attention is not split (the parts' combine and the extra
  // tasks cost about what a few hundred positions do), and the most parts of one token.
  static constexpr int32_t kMinPartPositions = 512;
  static constexpr int32_t kMaxAttentionParts = 16;

  int32_t attention_group_size() const { return shape_.n_head / shape_.n_head_kv; }
  // Tasks a step wants at least before splitting tokens: enough for every core of a small
  // machine with uneven parts. Not a multiple of the thread count, so that -t never changes
  // which tokens are split (and so never the logits' rounding). With small query groups (MHA:
  // 1) a single token fills few lanes of the tile kernel's row vectors (8 or 16 rows), while
  // the parts' kernel takes dot products along the head, so such tokens are split more: on the
  // Sheared-LLaMA-1.3B shape (16 kv heads, group 1) at 4,096 positions this decoded 1.25-1.28x
  // (f32 cache) and 1.34-1.45x (q8_0) faster (docs/quantization.md, KV cache types).
  static constexpr size_t kSmallAttentionGroup = 4;
  size_t wanted_attention_tasks() const { return attention_group_size() <= int32_t(kSmallAttentionGroup) ? 64 : 16; }
  // Part slots: splitting happens only while tasks < wanted, so the parts of all split tokens
  // number below wanted + work items < 2 * wanted per kv head.
  size_t max_attention_parts() const { return 2 * wanted_attention_tasks(); }
  size_t attention_part_floats() const {
    const size_t group = as_size(attention_group_size());
    return as_size(shape_.n_head_kv) * (group * as_size(shape_.head_dim) + 2 * group);
  }
  AttentionPart attention_part(int32_t slot, size_t kv_head) const {
    const size_t group = as_size(attention_group_size());
    float* base = attention_parts_ + as_size(slot) * attention_part_floats() +
                  kv_head * (group * as_size(shape_.head_dim) + 2 * group);
    float* out = base + 2 * group;
    return {out, base, base + group};
  }

  // Splits the step's tokens into attention work items: runs of one sequence's consecutive
  // positions (consecutive in the batch) in tiles of attention_tile_tokens(group); single tokens
  // (decode) alone, each split into parts of its positions when there are too few tasks to
  // keep every thread busy. Tiles are listed last token first (the longest first, since the
  // pool hands out tasks in order), so that no long tile starts last.
  void plan_attention_work() {
    const size_t n = n_tokens_;
    for (size_t t = 0; t < n; ++t)
      visible_end_[t] = shape_.causal ? batch_->positions[t] + 1 : sequence_end_[t];
    const int32_t tile_tokens = attention_tile_tokens(attention_group_size());
    size_t items = 0;
    size_t singles = 0;
    for (size_t end = n; end > 0;) {
      size_t begin = end - 1;
      while (begin > 0 && batch_->sequences[begin - 1] == batch_->sequences[end - 1] &&
             batch_->positions[begin - 1] + 1 == batch_->positions[begin])
        --begin;
      // [begin, end): one run; tiles from its end.
      while (end > begin) {
        const size_t first = end - std::min(end - begin, as_size(tile_tokens));
        attention_work_[items++] = {static_cast<int32_t>(first), static_cast<int32_t>(end - first), 1, 0, 0, 0};
        if (end - first == 1) ++singles;
        end = first;
      }
    }
    n_attention_work_ = items;
    const size_t n_head_kv = as_size(shape_.n_head_kv);
    const size_t tasks = items * n_head_kv;
    if (singles == 0 || tasks >= wanted_attention_tasks()) return;
    // Split each single token into parts of at least kMinPartPositions positions, as many as
    // bring the step's tasks to about wanted (ceil), at most kMaxAttentionParts. Items are
    // rewritten in place from the back (a split item becomes consecutive part items).
    const size_t parts_wanted = (wanted_attention_tasks() + tasks - 1) / tasks;
    size_t total = 0;
    for (size_t i = 0; i < items; ++i) {
      const AttentionWork& work = attention_work_[i];
      total += work.n_tokens == 1 ? part_count(visible_end_[as_size(work.first_token)], parts_wanted) : 1;
    }
    JISU_ASSERT(total <= attention_work_.size());
    int32_t slot = 0;
    for (size_t i = items, out = total; i > 0;) {
      const AttentionWork work = attention_work_[--i];
      const int32_t positions = visible_end_[as_size(work.first_token)];
      const size_t parts = work.n_tokens == 1 ? part_count(positions, parts_wanted) : 1;
      if (parts == 1) {
        attention_work_[--out] = work;
        continue;
      }
      out -= parts;
      for (size_t p = 0; p < parts; ++p) {
        const auto first = static_cast<int32_t>(as_size(positions) * p / parts);
        const auto end = static_cast<int32_t>(as_size(positions) * (p + 1) / parts);
        JISU_ASSERT(as_size(slot) < max_attention_parts());
        attention_work_[out + p] = {work.first_token, 1, static_cast<int32_t>(parts), first, end, slot++};
      }
    }
    n_attention_work_ = total;
  }

  static size_t part_count(int32_t positions, size_t parts_wanted) {
    return std::clamp<size_t>(std::min(parts_wanted, as_size(positions / kMinPartPositions)), 1, kMaxAttentionParts);
  }

  void apply_glu(float* gate, size_t gate_stride, const float* up, size_t up_stride, size_t n_rows) {
    const size_t ff = as_size(shape_.n_ff);
    pool_.parallel_for(n_rows, [&](size_t t, size_t) {
      float* g = gate + t * gate_stride;
      const float* u = up + t * up_stride;
      switch (shape_.activation) {
        case FeedForwardActivation::SiLU: silu_multiply(g, u, ff); break;
        case FeedForwardActivation::GeluTanh: gelu_tanh_multiply(g, u, ff); break;
        case FeedForwardActivation::GeluErf: gelu_erf_multiply(g, u, ff); break;
      }
    });
  }

  // Non-causal attention: sequence_end_[t] = one past the last position of token t's sequence
  // in this step (validation made each sequence's positions consecutive from its cache length).
  void find_sequence_ends(const Batch& batch, const KvCache& cache) {
    // Sized once (the first step), then only reused.
    if (sequence_end_.size() < max_tokens_) sequence_end_.resize(max_tokens_);
    if (end_by_sequence_.size() < as_size(cache.max_sequences())) end_by_sequence_.resize(as_size(cache.max_sequences()));
    for (size_t t = 0; t < n_tokens_; ++t) end_by_sequence_[as_size(batch.sequences[t])] = 0;
    for (size_t t = 0; t < n_tokens_; ++t) {
      int32_t& end = end_by_sequence_[as_size(batch.sequences[t])];
      end = std::max(end, batch.positions[t] + 1);
    }
    for (size_t t = 0; t < n_tokens_; ++t) sequence_end_[t] = end_by_sequence_[as_size(batch.sequences[t])];
  }

  // The int8 copy of x in buffers quantized_, reused while x is the last quantized input: every
  // op that writes activations resets quantized_source_, and a linear does when its output
  // overlaps the input it quantized.
  void quantize_input(Activations x, size_t n_tokens, size_t cols, ActivationFormat format) {
    if (quantized_source_ == x.data && quantized_stride_x_ == x.stride && quantized_cols_ == cols &&
        quantized_tokens_ == n_tokens && quantized_format_ == format)
      return;
    if (format == ActivationFormat::SplitBf16) {
      const size_t n_tiles = (n_tokens + kFloatTileTokens - 1) / kFloatTileTokens;
      pool_.parallel_for(n_tiles, [&](size_t tile, size_t) {
        const size_t first = tile * kFloatTileTokens;
        split_activations_bf16(x.data + first * x.stride, x.stride, std::min(kFloatTileTokens, n_tokens - first), cols,
                               split_x_ + tile * split_tile_elements(cols));
      });
    } else {
      quantize_rows(x, n_tokens, cols, format);
    }
    quantized_source_ = x.data;
    quantized_stride_x_ = x.stride;
    quantized_cols_ = cols;
    quantized_tokens_ = n_tokens;
    quantized_format_ = format;
    quantized_tile_count_ = 0;
  }

  void quantize_rows(Activations x, size_t n_tokens, size_t cols, ActivationFormat format) {
    auto quantize_row = [&](size_t t) {
      const float* row = x.data + t * x.stride;
      uint8_t* out = quantized_ + t * quantized_stride_;
      if (format == ActivationFormat::SuperBlocks)
        quantize_activations_super_blocks(row, cols, reinterpret_cast<ActivationSuperBlock*>(out));
      else
        quantize_activations(row, cols, reinterpret_cast<ActivationBlock*>(out));
    };
    // One token (decode): a few microseconds of work, cheaper than waking the pool.
    if (n_tokens == 1)
      quantize_row(0);
    else
      pool_.parallel_for(n_tokens, [&](size_t t, size_t) { quantize_row(t); });
  }

  // The repacked kernels' activation tiles of the whole tiles of 16 of the quantized input, made
  // once per input: q, k and v (gate and up) read the same copy. Their layout depends on the
  // activation format only (the same for every type that takes it), which the input cache
  // keys. Returns the tile count.
  size_t place_input_tiles(DType type) {
    const size_t tiles = quantized_tokens_ / kActivationTileTokens;
    if (quantized_tile_count_ == tiles) return tiles;
    pool_.parallel_for(tiles, [&](size_t tile, size_t) {
      prepare_repacked_activation_tiles(type, quantized_, quantized_stride_, quantized_cols_, tiles, tile, tile + 1,
                                        quantized_tiles_);
    });
    quantized_tile_count_ = tiles;
    return tiles;
  }

  std::unique_ptr<LinearWeight> prepare_sparse(const WeightMatrix& matrix, int64_t slice) {
    check_sparse_rows(matrix.type, matrix.data, as_size(matrix.rows), matrix.row_bytes, as_size(matrix.cols), matrix.name);
    std::unique_ptr<NmRepackedWeights> repacked;
    if (matrix.type == kJisuNmQ8 && nm_repacked_kernel_runs_on(active_isa()))
      repacked = NmRepackedWeights::from_rows(matrix.data, matrix.row_bytes, as_size(matrix.rows), as_size(matrix.cols));
    if (repacked) {
      repacked_bytes_ += repacked->bytes();
      // As for the dense repacked copies: the file pages fault back in if anything reads them again.
      if (matrix.in_file_mapping) release_mapped_pages(matrix.data, matrix.bytes());
    }
    return std::make_unique<CpuSparseLinear>(matrix, slice, std::move(repacked));
  }

  // The one place that tells the kinds of linear weight apart. observe: show the observer the
  // input (a low-rank pair shows the product's input under the product's name, as for a whole
  // matrix, and not its factors' own).
  void run_linear(const LinearWeight& weight, Activations x, Activations y, size_t n_tokens, bool observe = true) {
    if (const auto* sparse = dynamic_cast<const CpuSparseLinear*>(&weight)) {
      run_sparse_linear(*sparse, x, y, n_tokens, observe);
    } else if (const auto* pair = dynamic_cast<const CpuLowRankLinear*>(&weight)) {
      if (observer_ && observe) observer_->observe(pair->name(), 0, x.data, x.stride, n_tokens, as_size(pair->cols()));
      const Activations middle{low_rank_scratch_, pair->rank()};
      run_dense_linear(pair->b(), x, middle, n_tokens, /*observe=*/false);
      run_dense_linear(pair->a(), middle, y, n_tokens, /*observe=*/false);
    } else {
      run_dense_linear(static_cast<const CpuLinear&>(weight), x, y, n_tokens, observe);
    }
  }

  // What every kind does first: show the observer the input, and forget an int8 copy of an
  // input the output overwrites (it is stale).
  void begin_linear(const WeightMatrix& matrix, int64_t slice, Activations x, Activations y, size_t n_tokens,
                    bool observe, std::span<const std::string> stacked_names = {}) {
    if (observer_ && observe) {
      if (stacked_names.empty()) observer_->observe(matrix.name, slice, x.data, x.stride, n_tokens, as_size(matrix.cols));
      for (const std::string& name : stacked_names)
        observer_->observe(name, slice, x.data, x.stride, n_tokens, as_size(matrix.cols));
    }
    if (quantized_source_ && y.data < quantized_source_ + quantized_tokens_ * quantized_stride_x_ &&
        quantized_source_ < y.data + n_tokens * y.stride)
      quantized_source_ = nullptr;
  }

  void run_sparse_linear(const CpuSparseLinear& weight, Activations x, Activations y, size_t n_tokens, bool observe) {
    const WeightMatrix& matrix = weight.matrix();
    const size_t rows = as_size(matrix.rows), cols = as_size(matrix.cols);
    begin_linear(matrix, weight.slice(), x, y, n_tokens, observe);
    quantize_input(x, n_tokens, cols, ActivationFormat::Blocks);
    const auto* xq = reinterpret_cast<const ActivationBlock*>(quantized_);
    const size_t rows_per_task = task_rows(rows, n_tokens);
    const NmRepackedWeights* repacked = weight.repacked();
    if (repacked && nm_repacked_kernel_runs_on(active_isa())) {
      // Task boundaries are multiples of 16 rows and the matrix has whole groups of 8.
      pool_.parallel_for((rows + rows_per_task - 1) / rows_per_task, [&](size_t task, size_t) {
        matmul_nm_repacked({kJisuNmQ8, repacked->data(), repacked->group_bytes(), cols, xq, quantized_stride_, n_tokens, y.data,
                            y.stride, task * rows_per_task, std::min(rows, (task + 1) * rows_per_task)});
      });
      return;
    }
    pool_.parallel_for((rows + rows_per_task - 1) / rows_per_task, [&](size_t task, size_t) {
      matmul_rows_sparse_int8({matrix.type, matrix.data, matrix.row_bytes, cols, xq, quantized_stride_, n_tokens, y.data,
                               y.stride, task * rows_per_task, std::min(rows, (task + 1) * rows_per_task)});
    });
  }

  // About four tasks per thread balances uneven progress; at least 16 rows keeps each task's
  // weight reads long enough to stream well. Multiples of 16 rows keep the kernels' row tiles
  // full. With 8 or more tokens a task is long (its rows times every token) and the thread
  // that finishes first waits for the other's last one: four times as many tasks halved that
  // wait (perf, pp128 Q4_0: 4.5 % -> 2.0 % of samples in the pool's waits, matmul 82.6 -> 86.4 %).
  size_t task_rows(size_t rows, size_t n_tokens) const {
    const size_t wanted_tasks = pool_.size() * (n_tokens >= 8 ? 16 : 4);
    return std::max<size_t>(16, ((rows + wanted_tasks - 1) / wanted_tasks + 15) / 16 * 16);
  }

  // Row ranges of one dense product's tasks, which the pool hands out in order; boundaries are
  // multiples of 16 rows (the kernels' row tiles). From 8 tokens on: task_rows() each. Below 8
  // (decode), guided: each task about 1 / (2 threads) of the rows left, at least
  // kMinGuidedRows, so the first tasks stream long ranges and the last ones are short, and the
  // thread that finishes first waits for at most a short task (equal tasks again if that would
  // take more than kMaxGuidedTasks, as with many threads). TinyLlama tg64, 2 threads, 10
  // alternating rounds against equal tasks: median 1.02x (Q4_0) and 1.02x (Q4_K_M)
  // (docs/performance.md, "Decode: q/k/v and gate/up as one parallel region").
  static constexpr size_t kMaxGuidedTasks = 256, kMinGuidedRows = 32;
  struct RowTasks {
    size_t rows = 0, rows_per_task = 0;  // rows_per_task > 0: equal tasks
    size_t count = 0;
    // Guided: task t is [start[t], start[t + 1]); left uninitialised past count (a memset of
    // 2 KB per product would be a needless pass on the per-token path).
    std::array<size_t, kMaxGuidedTasks + 1> start;
    size_t begin(size_t task) const { return rows_per_task ? task * rows_per_task : start[task]; }
    size_t end(size_t task) const { return rows_per_task ? std::min(rows, (task + 1) * rows_per_task) : start[task + 1]; }
  };
  RowTasks row_tasks(size_t rows, size_t n_tokens) const {
    RowTasks tasks;
    tasks.rows = rows;
    tasks.start[0] = 0;
    if (n_tokens < 8) {
      const size_t share = 2 * pool_.size();
      size_t at = 0;
      while (at < rows && tasks.count < kMaxGuidedTasks) {
        at = std::min(rows, at + std::max(kMinGuidedRows, ((rows - at + share - 1) / share + 15) / 16 * 16));
        tasks.start[++tasks.count] = at;
      }
      if (at == rows) return tasks;
      tasks.count = 0;
    }
    tasks.rows_per_task = task_rows(rows, n_tokens);
    tasks.count = (rows + tasks.rows_per_task - 1) / tasks.rows_per_task;
    return tasks;
  }

  void run_dense_linear(const CpuLinear& weight, Activations x, Activations y, size_t n_tokens, bool observe) {
    const WeightMatrix& matrix = weight.matrix();
    const size_t rows = as_size(matrix.rows), cols = as_size(matrix.cols);
    begin_linear(matrix, weight.slice(), x, y, n_tokens, observe, weight.stacked_names());
    const RowTasks tasks = row_tasks(rows, n_tokens);
    float* out = y.data;
    const size_t y_stride = y.stride;
    if (const RepackedWeights* repacked = weight.repacked()) {
      // Task boundaries are multiples of 16 rows and the matrix has whole groups of 8.
      quantize_input(x, n_tokens, cols,
                     takes_int8_super_blocks(matrix.type) ? ActivationFormat::SuperBlocks : ActivationFormat::Blocks);
      const void* xq = quantized_;
      const uint8_t* w = repacked->data() + weight.repacked_group() * repacked->group_bytes();
      const bool tiles = quantized_tiles_ != nullptr && repacked_activation_tiles_bytes(matrix.type, n_tokens / kActivationTileTokens, cols) > 0;
      const size_t tile_count = tiles ? place_input_tiles(matrix.type) : 0;
      pool_.parallel_for(tasks.count, [&](size_t task, size_t) {
        matmul_repacked_int8({matrix.type, w, repacked->group_bytes(), cols, xq, quantized_stride_, n_tokens, out,
                              y_stride, tasks.begin(task), tasks.end(task),
                              tiles ? quantized_tiles_ : nullptr, tile_count, one_group_tiles_});
      });
      return;
    }
    const bool super_blocks = takes_int8_super_blocks(matrix.type) && cols % kActivationSuperBlockElements == 0;
    if (super_blocks || (takes_int8_activations(matrix.type) && cols % kActivationBlockElements == 0)) {
      quantize_input(x, n_tokens, cols, super_blocks ? ActivationFormat::SuperBlocks : ActivationFormat::Blocks);
      const auto* xq = reinterpret_cast<const ActivationBlock*>(quantized_);
      pool_.parallel_for(tasks.count, [&](size_t task, size_t) {
        const Int8MatmulArgs args{matrix.type, matrix.data, matrix.row_bytes, cols, xq, quantized_stride_, n_tokens,
                                  out, y_stride, tasks.begin(task), tasks.end(task),
                                  matrix.codebook, matrix.row_scales};
        super_blocks ? matmul_rows_int8_super_blocks(args) : matmul_rows_int8(args);
      });
      return;
    }
    // F16 / BF16 prompts on AMX-BF16 tiles (float_tile_matmul.h: results within ~2^-17 of
    // the float path, not bit-identical to it), decode and other paths on matmul_rows.
    const bool tiles = split_x_ != nullptr && takes_float_tiles(matrix.type, n_tokens);
    if (tiles) quantize_input(x, n_tokens, cols, ActivationFormat::SplitBf16);
    pool_.parallel_for(tasks.count, [&](size_t task, size_t) {
      MatmulArgs args{matrix.type, matrix.data, matrix.row_bytes, cols, x.data, x.stride, n_tokens,
                      out, y_stride, tasks.begin(task), tasks.end(task)};
      tiles ? matmul_rows_split_bf16(args, split_x_) : matmul_rows(args);
    });
  }

  TransformerShape shape_;
  ThreadPool& pool_;
  Communicator* tensor_group_;  // the ranks sharing this stage's layers; null: one process
  const bool one_group_tiles_;  // RepackedMatmulArgs::one_group_tiles, measured once per process
  std::vector<std::vector<uint8_t>> shard_copies_;  // column shards (copy_columns)
  LinearObserver* observer_ = nullptr;
  WeightMatrix embedding_;
  std::vector<std::vector<float>> vectors_;  // prepared norm weights and biases
  size_t repacked_bytes_ = 0;

  size_t max_tokens_ = 0;
  std::unique_ptr<Arena> arena_;
  uint8_t* quantized_ = nullptr;  // [tokens][quantized_stride_ bytes]: int8 copy of a linear's input
  bool float_tile_weights_ = false;  // an F16/BF16 linear will run on AMX-BF16 tiles in prompts
  uint16_t* split_x_ = nullptr;      // split_activation_elements: bf16 split of a linear's input
  size_t max_rank_ = 0;           // largest rank of a prepared low-rank pair
  float* low_rank_scratch_ = nullptr;  // [tokens][max_rank_]: B x of a low-rank pair
  size_t quantized_stride_ = 0;
  uint8_t* quantized_tiles_ = nullptr;  // the repacked kernels' activation tiles of quantized_; null: unused
  size_t quantized_tile_count_ = 0;     // tiles of the current quantized_ placed in quantized_tiles_ (0: none)
  MoeBuffers moe_;
  // What quantized_ holds now (see quantize_input).
  const float* quantized_source_ = nullptr;
  size_t quantized_stride_x_ = 0, quantized_cols_ = 0, quantized_tokens_ = 0;
  ActivationFormat quantized_format_ = ActivationFormat::Blocks;

  // K/V of layers [first_kv_layer_, ...): [layer][block * block_size + slot] rows of kv_dim
  // values stored as key_type_ / value_type_ (quantize_kv_row), in 64-byte chunks.
  struct alignas(64) KvChunk {
    uint8_t bytes[64];
  };
  int32_t first_kv_layer_ = 0;
  int32_t block_size_ = 0;
  DType key_type_ = DType::F32, value_type_ = DType::F32;
  size_t key_row_bytes_ = 0, value_row_bytes_ = 0;
  size_t key_layer_bytes_ = 0, value_layer_bytes_ = 0;
  std::vector<KvChunk> keys_, values_;

  // The step in progress (begin_step).
  const Batch* batch_ = nullptr;
  const KvCache* cache_ = nullptr;
  const float* rope_cos_sin_ = nullptr;
  size_t n_tokens_ = 0;
  std::vector<int32_t> sequence_end_;    // [tokens], non-causal attention only
  std::vector<int32_t> visible_end_;     // [tokens]: token t attends positions [0, visible_end_[t])
  std::vector<AttentionWork> attention_work_;  // the step's work items (plan_attention_work)
  size_t n_attention_work_ = 0;
  float* attention_scratch_ = nullptr;   // [threads][attention_scratch_stride_] for attention_tile_rows
  size_t attention_scratch_stride_ = 0;
  float* attention_parts_ = nullptr;     // [max_attention_parts()][attention_part_floats()]
  std::vector<int32_t> end_by_sequence_;  // [sequence slot] scratch of find_sequence_ends
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const TransformerShape& shape, ThreadPool& pool, Communicator* tensor_group) {
  return std::make_unique<CpuBackend>(shape, pool, tensor_group);
}

}  // namespace jisu::cpu
