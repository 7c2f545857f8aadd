// Google Benchmark suite of the CPU kernels (`jisu_kernel_bench`): weight x activation
// products for each weight type on the float-activation path and, where the type has one, the
// integer dot-product path (activation quantization included), plus activation quantization
// and attention. Reports GB/s of weights read and GFLOP/s (2 flops per weight per token).
// One thread; the matrices (4096 x 2048) fit the last-level cache, so this measures kernel
// throughput, not DRAM bandwidth (`jisu bench` measures the model against the roofline), except
// matmul_repacked_from_dram (16 times the rows) and the one-token *_decode_stream cases (32-64
// times the rows).
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/float_tile_matmul.h"
#include "backends/cpu/int8_matmul.h"
#include "backends/cpu/int8_repacked_matmul.h"
#include "backends/cpu/int8_repacked_weights.h"
#include "backends/cpu/int8_super_block_matmul.h"
#include "backends/cpu/quant_kernels.h"
#include "compress/quantize_row.h"
#include "core/cpu_features.h"
#include "core/dtype.h"

namespace {

using namespace jisu;

constexpr size_t kRows = 4096, kCols = 2048;

std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& f : v) f = normal(rng);
  return v;
}

// Offsets of the fp16 fields (scales, minimum scales) of the K-quant blocks the quantizer lacks.
std::vector<size_t> half_fields(DType type) {
  switch (type) {
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q5_K: return {0, 2};
    default: return {};
  }
}

std::vector<uint8_t> random_matrix(DType type) {
  const size_t bytes = row_bytes(type, kCols);
  std::vector<uint8_t> data(kRows * bytes);
  const std::vector<size_t> fields = half_fields(type);
  if (!fields.empty()) {
    // Speed does not depend on the values: random quants, and scales fixed to a normal fp16
    // (random bits could be subnormal or NaN, which some float units process slowly).
    std::mt19937 rng(7);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    const uint16_t scale = cpu::fp32_to_fp16(0.01f);
    for (size_t block = 0; block < data.size() / traits(type).block_bytes; ++block)
      for (size_t offset : fields) std::memcpy(data.data() + block * traits(type).block_bytes + offset, &scale, sizeof scale);
    return data;
  }
  const std::vector<float> values = random_floats(kRows * kCols, 7);
  for (size_t r = 0; r < kRows; ++r) compress::quantize_row(type, values.data() + r * kCols, data.data() + r * bytes, kCols);
  return data;
}

void set_counters(benchmark::State& state, DType type, size_t tokens, size_t rows = kRows) {
  const double iterations = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter(iterations * double(rows * row_bytes(type, kCols)), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
  state.counters["GFLOP/s"] = benchmark::Counter(iterations * 2.0 * double(rows * kCols * tokens) / 1e9,
                                                 benchmark::Counter::kIsRate);
}

// copies > 1: the matrix is that many copies of the 4096 rows stacked (see matmul_repacked).
void matmul_float(benchmark::State& state, DType type, size_t tokens, size_t copies = 1) {
  const std::vector<uint8_t> one = random_matrix(type);
  std::vector<uint8_t> w(one.size() * copies);
  for (size_t c = 0; c < copies; ++c) std::memcpy(w.data() + c * one.size(), one.data(), one.size());
  const size_t rows = kRows * copies;
  const std::vector<float> x = random_floats(tokens * kCols, 3);
  std::vector<float> y(tokens * rows);
  const cpu::MatmulArgs args{type, w.data(), row_bytes(type, kCols), kCols, x.data(), kCols, tokens, y.data(), rows, 0, rows};
  for (auto _ : state) {
    cpu::matmul_rows(args);
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, type, tokens, rows);
}

// F16 / BF16 on AMX-BF16 tiles (float_tile_matmul.h): the activation split included, as a
// linear runs it (once per input).
void matmul_float_tiles(benchmark::State& state, DType type, size_t tokens) {
  const std::vector<uint8_t> w = random_matrix(type);
  const std::vector<float> x = random_floats(tokens * kCols, 3);
  std::vector<uint16_t> split(cpu::split_activation_elements(tokens, kCols));
  std::vector<float> y(tokens * kRows);
  const cpu::MatmulArgs args{type, w.data(), row_bytes(type, kCols), kCols, x.data(), kCols, tokens, y.data(), kRows, 0, kRows};
  for (auto _ : state) {
    for (size_t t0 = 0; t0 < tokens; t0 += cpu::kFloatTileTokens)
      cpu::split_activations_bf16(x.data() + t0 * kCols, kCols, std::min(cpu::kFloatTileTokens, tokens - t0), kCols,
                                  split.data() + t0 / cpu::kFloatTileTokens * cpu::split_tile_elements(kCols));
    cpu::matmul_rows_split_bf16(args, split.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, type, tokens);
}

void quantize_row(const float* x, size_t n, cpu::ActivationBlock* out) { cpu::quantize_activations(x, n, out); }
void quantize_row(const float* x, size_t n, cpu::ActivationSuperBlock* out) { cpu::quantize_activations_super_blocks(x, n, out); }

// Integer paths: quantizes the activations (32-element blocks or 256-element super-blocks, as
// xq holds) each iteration, then runs `multiply` on them.
template <class Block, class Multiply>
void int8_loop(benchmark::State& state, DType type, size_t tokens, std::vector<Block>& xq, Multiply multiply,
               size_t rows = kRows) {
  constexpr size_t kElements = sizeof(Block::qs);
  const std::vector<float> x = random_floats(tokens * kCols, 3);
  for (auto _ : state) {
    for (size_t t = 0; t < tokens; ++t) quantize_row(x.data() + t * kCols, kCols, xq.data() + t * kCols / kElements);
    multiply();
  }
  set_counters(state, type, tokens, rows);
}

void matmul_int8(benchmark::State& state, DType type, size_t tokens) {
  const std::vector<uint8_t> w = random_matrix(type);
  std::vector<cpu::ActivationBlock> xq(tokens * kCols / cpu::kActivationBlockElements);
  std::vector<float> y(tokens * kRows);
  const cpu::Int8MatmulArgs args{type, w.data(), row_bytes(type, kCols), kCols, xq.data(), cpu::int8_activation_row_bytes(kCols),
                                 tokens, y.data(), kRows, 0, kRows};
  int8_loop(state, type, tokens, xq, [&] {
    cpu::matmul_rows_int8(args);
    benchmark::DoNotOptimize(y.data());
  });
}

// The same product on weights repacked into groups of 8 interleaved rows (repacking untimed).
// With copies > 1 the matrix is that many copies of the 4096 rows stacked: 16 copies (72 MiB of
// Q4_0) stream from DRAM, which shows how well a tile of several tokens overlaps the weight
// stream with its arithmetic (ideally the slower of the two, not their sum).
void matmul_repacked(benchmark::State& state, DType type, size_t tokens, size_t copies) {
  const std::vector<uint8_t> one = random_matrix(type);
  std::vector<uint8_t> w(one.size() * copies);
  for (size_t c = 0; c < copies; ++c) std::memcpy(w.data() + c * one.size(), one.data(), one.size());
  const size_t rows = kRows * copies;
  const cpu::RepackedWeights packed(type, w.data(), row_bytes(type, kCols), rows, kCols);
  std::vector<float> y(tokens * rows);
  // xq: the activation rows, ActivationBlock or ActivationSuperBlock as the type takes.
  const auto run = [&](auto& xq) {
    using Block = typename std::decay_t<decltype(xq)>::value_type;
    const cpu::RepackedMatmulArgs args{type, packed.data(), packed.group_bytes(), kCols, xq.data(),
                                       kCols / sizeof(Block::qs) * sizeof(Block), tokens, y.data(), rows, 0, rows};
    int8_loop(state, type, tokens, xq, [&] {
      cpu::matmul_repacked_int8(args);
      benchmark::DoNotOptimize(y.data());
    }, rows);
  };
  if (cpu::takes_int8_super_blocks(type)) {
    std::vector<cpu::ActivationSuperBlock> xq(tokens * kCols / cpu::kActivationSuperBlockElements);
    return run(xq);
  }
  std::vector<cpu::ActivationBlock> xq(tokens * kCols / cpu::kActivationBlockElements);
  run(xq);
}

// The K-quants' super-block integer path (activations quantized per 256).
void matmul_int8_super_blocks(benchmark::State& state, DType type, size_t tokens) {
  const std::vector<uint8_t> w = random_matrix(type);
  std::vector<cpu::ActivationSuperBlock> xq(tokens * kCols / cpu::kActivationSuperBlockElements);
  std::vector<float> y(tokens * kRows);
  const cpu::Int8MatmulArgs args{type, w.data(), row_bytes(type, kCols), kCols, reinterpret_cast<const cpu::ActivationBlock*>(xq.data()),
                                 cpu::int8_super_block_row_bytes(kCols), tokens, y.data(), kRows, 0, kRows};
  int8_loop(state, type, tokens, xq, [&] {
    cpu::matmul_rows_int8_super_blocks(args);
    benchmark::DoNotOptimize(y.data());
  });
}

// The core's peak integer multiply-add rate, the ceiling of the integer kernels: 8 maddubs (32
// byte products each, pairs summed) + int16 adds per iteration on 8 independent accumulators,
// registers only. The 6 inputs pass through an empty volatile asm every iteration, so no
// product is loop-invariant, and no product depends on an accumulator, so latency never
// limits it. Counted as the kernels count (2 ops per multiply-add): a kernel's GFLOP/s over this
// is its share of the peak. (On the 2-core Zen 3 here, in a quiet hour: 306-328 GFLOP/s per
// core, about 1.65 maddubs per cycle at 3.06 GHz; the repacked Q4_0 kernel at 128 tokens ran
// at 193 GFLOP/s, about 60 % of it, best of 8 short runs in the same invocation.)
__attribute__((target("avx2"), noipa)) void int8_multiply_add_chains(long iterations, __m256i* out) {
  __m256i a0 = _mm256_set1_epi8(1), a1 = _mm256_set1_epi8(2), a2 = _mm256_set1_epi8(3), a3 = _mm256_set1_epi8(4);
  __m256i b0 = _mm256_set1_epi8(-1), b1 = _mm256_set1_epi8(5);
  // Named accumulators, not an array: GCC kept an array in memory here.
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  for (long i = 0; i < iterations; ++i) {
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(b0), "+x"(b1));
    c0 = _mm256_add_epi16(c0, _mm256_maddubs_epi16(a0, b0));
    c1 = _mm256_add_epi16(c1, _mm256_maddubs_epi16(a1, b0));
    c2 = _mm256_add_epi16(c2, _mm256_maddubs_epi16(a2, b0));
    c3 = _mm256_add_epi16(c3, _mm256_maddubs_epi16(a3, b0));
    c4 = _mm256_add_epi16(c4, _mm256_maddubs_epi16(a0, b1));
    c5 = _mm256_add_epi16(c5, _mm256_maddubs_epi16(a1, b1));
    c6 = _mm256_add_epi16(c6, _mm256_maddubs_epi16(a2, b1));
    c7 = _mm256_add_epi16(c7, _mm256_maddubs_epi16(a3, b1));
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3, out[4] = c4, out[5] = c5, out[6] = c6, out[7] = c7;
}

void int8_multiply_add_peak(benchmark::State& state) {
  constexpr long kIterations = 1 << 16;
  __m256i out[8];
  for (auto _ : state) {
    int8_multiply_add_chains(kIterations, out);
    benchmark::DoNotOptimize(out);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(double(state.iterations()) * kIterations * 8 * 32 * 2 / 1e9,
                                                 benchmark::Counter::kIsRate);
}

void quantize(benchmark::State& state) {
  const std::vector<float> x = random_floats(kCols, 5);
  std::vector<cpu::ActivationBlock> xq(kCols / cpu::kActivationBlockElements);
  for (auto _ : state) {
    cpu::quantize_activations(x.data(), kCols, xq.data());
    benchmark::DoNotOptimize(xq.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(state.iterations()) * kCols * sizeof(float), benchmark::Counter::kIsRate,
                                              benchmark::Counter::kIs1000);
}

// The 8 query heads of one KV head (TinyLlama: head_dim 64, 32 heads over 4 KV heads) over
// `positions` cached positions of an f32 KV cache: the grouped decode kernel the engine runs
// (attention_group_rows, active ISA).
void attention(benchmark::State& state) {
  const int32_t positions = static_cast<int32_t>(state.range(0)), head_dim = 64, kv_dim = 256, block_size = 16, group = 8;
  const std::vector<float> keys = random_floats(size_t(positions) * kv_dim, 1), values = random_floats(size_t(positions) * kv_dim, 2);
  const std::vector<float> queries = random_floats(size_t(group * head_dim), 3);
  std::vector<int32_t> table(size_t(positions + block_size - 1) / block_size);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
  std::vector<float> out(queries.size());
  const cpu::KvLayerRows rows{reinterpret_cast<const uint8_t*>(keys.data()), reinterpret_cast<const uint8_t*>(values.data()),
                              table.data(), block_size, kv_dim, DType::F32, DType::F32};
  for (auto _ : state) {
    cpu::attention_group_rows(queries.data(), group, rows, 0, head_dim, positions, 0.125f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  // Bytes of K and V the group needs (read once for the group).
  state.counters["GB/s"] = benchmark::Counter(double(state.iterations()) * 2.0 * positions * head_dim * sizeof(float),
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

}  // namespace

int main(int argc, char** argv) {
  const DType types[] = {DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                         DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  const std::string isa(isa_name(active_isa()));
  for (DType type : types) {
    for (size_t tokens : {size_t(1), size_t(4), size_t(16)}) {
      const std::string suffix = std::string(dtype_name(type)) + "/tokens:" + std::to_string(tokens) + "/" + isa;
      benchmark::RegisterBenchmark(("matmul_float/" + suffix).c_str(), matmul_float, type, tokens, size_t(1));
      if (cpu::takes_int8_activations(type))
        benchmark::RegisterBenchmark(("matmul_int8/" + suffix).c_str(), matmul_int8, type, tokens);
      if (cpu::takes_int8_super_blocks(type))
        benchmark::RegisterBenchmark(("matmul_int8_super_blocks/" + suffix).c_str(), matmul_int8_super_blocks, type, tokens);
      if (cpu::can_repack(type, kRows, kCols))
        benchmark::RegisterBenchmark(("matmul_repacked/" + suffix).c_str(), matmul_repacked, type, tokens, size_t(1));
    }
  }
  // Prompts of F16 / BF16: the float path and, where the ISA has them, the AMX-BF16 tiles.
  for (DType type : {DType::F16, DType::BF16}) {
    const std::string suffix = std::string(dtype_name(type)) + "/tokens:128/" + isa;
    benchmark::RegisterBenchmark(("matmul_float/" + suffix).c_str(), matmul_float, type, size_t(128), size_t(1));
    if (cpu::takes_float_tiles(type, 128))
      benchmark::RegisterBenchmark(("matmul_float_tiles/" + suffix).c_str(), matmul_float_tiles, type, size_t(128));
  }
  // Prefill: 128 tokens, so that nearly every token tile reads its weights from L2 (the first of
  // each row block streams them in), as in a model's prompt processing.
  for (DType type : types)
    if (cpu::can_repack(type, kRows, kCols))
      benchmark::RegisterBenchmark(("matmul_repacked/" + std::string(dtype_name(type)) + "/tokens:128/" + isa).c_str(),
                                   matmul_repacked, type, size_t(128), size_t(1));
  for (DType type : {DType::Q4_0, DType::Q4_K})
    for (size_t tokens : {size_t(1), size_t(4), size_t(8), size_t(128)})
      benchmark::RegisterBenchmark(("matmul_repacked_from_dram/" + std::string(dtype_name(type)) + "/tokens:" +
                                    std::to_string(tokens) + "/" + isa).c_str(),
                                   matmul_repacked, type, tokens, size_t(16));
  // Decode over a matrix larger than any last-level cache (64 copies: 302 MiB of Q4_0, 570 MiB
  // of Q8_0; some servers report an L3 of several hundred MiB): the single-core weight stream.
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K})
    benchmark::RegisterBenchmark(("matmul_repacked_decode_stream/" + std::string(dtype_name(type)) + "/" + isa).c_str(),
                                 matmul_repacked, type, size_t(1), size_t(64));
  benchmark::RegisterBenchmark(("matmul_float_decode_stream/F16/" + isa).c_str(), matmul_float, DType::F16, size_t(1), size_t(32));
  if (static_cast<int>(detected_isa()) >= static_cast<int>(Isa::Avx2))
    benchmark::RegisterBenchmark("int8_multiply_add_peak/avx2", int8_multiply_add_peak);
  benchmark::RegisterBenchmark(("quantize_activations/2048/" + isa).c_str(), quantize);
  benchmark::RegisterBenchmark(("attention_8_heads_grouped/f32/" + isa).c_str(), attention)->Arg(128)->Arg(1024);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
