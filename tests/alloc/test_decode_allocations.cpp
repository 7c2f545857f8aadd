// The per-token path does not touch the heap: this binary replaces the global operator new
// with a counting one and decodes 100 tokens (batch of one, and a batch of three sequences)
// through the real Model/KvCache/Transformer stack, for a float-path and an integer-path
// model. Set-up (loading, planning the arena, the pool) may allocate; the steps must not.
// A separate binary, so the counting allocator never affects the other tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "models/model.h"
#include "models/forward_factory.h"
#include "kv/kv_cache.h"
#include "test_support.h"

namespace {
std::atomic<size_t> g_allocations{0};

void* counted(size_t size, size_t alignment) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t) ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                                                  : std::malloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(size_t size) { return counted(size, 0); }
void* operator new[](size_t size) { return counted(size, 0); }
void* operator new(size_t size, std::align_val_t a) { return counted(size, static_cast<size_t>(a)); }
void* operator new[](size_t size, std::align_val_t a) { return counted(size, static_cast<size_t>(a)); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try { return counted(size, 0); } catch (...) { return nullptr; }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  try { return counted(size, 0); } catch (...) { return nullptr; }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace jisu::test {
namespace {

// Allocations made while decoding `steps` tokens in each of `sequences` sequences (after one
// warm-up step, so lazily initialised state such as the pool's first wake-up is excluded).
size_t allocations_while_decoding(const std::string& name, int32_t sequences, int32_t steps,
                                  DType cache_type = DType::F32) {
  const auto model = Model::load(fixtures_dir() + "/models/" + name + ".gguf");
  ThreadPool pool(2);
  KvCacheOptions options;
  options.key_type = options.value_type = cache_type;
  options.max_sequences = sequences;
  options.block_size = 16;
  options.context_length = steps + 1;
  KvCache cache(model->config().context_length, options);
  const auto transformer = make_forward_pass({Device::Cpu, 0}, model->config(), model->weights(), pool, sequences, cache);
  std::vector<float> logits(static_cast<size_t>(sequences) * static_cast<size_t>(model->config().n_vocab));
  Batch batch(static_cast<size_t>(sequences));
  auto step = [&](int32_t position) {
    batch.clear();
    for (int32_t s = 0; s < sequences; ++s) batch.add((position * 7 + s * 13 + 1) % 500, position, s, true);
    transformer->forward(batch, cache, logits.data());
  };
  step(0);
  const size_t before = g_allocations.load();
  for (int32_t position = 1; position <= steps; ++position) step(position);
  return g_allocations.load() - before;
}

TEST(DecodeAllocations, CountingAllocatorSeesAllocations) {
  const size_t before = g_allocations.load();
  auto* v = new std::vector<int>(10);
  delete v;
  EXPECT_GE(g_allocations.load() - before, 2u);
}

TEST(DecodeAllocations, HundredDecodeStepsAllocateNothing) {
  for (const char* name : {"tiny-llama-s1.f32", "tiny-llama-s1.q4_0", "tiny-llama-s1.q8_0", "tiny-llama-s1.q4_k_m",
                           "tiny-moe-s1.q8_0"}) {
    EXPECT_EQ(allocations_while_decoding(name, 1, 100), 0u) << name << ", one sequence";
    EXPECT_EQ(allocations_while_decoding(name, 3, 100), 0u) << name << ", three sequences";
  }
}

TEST(DecodeAllocations, QuantizedKvCachesAllocateNothingEither) {
  const int32_t head_dim = Model::load(fixtures_dir() + "/models/tiny-llama-s1.q8_0.gguf")->config().head_dim;
  for (DType type : {DType::F16, DType::Q8_0, DType::Q4_0}) {
    if (head_dim % 32 != 0 && type != DType::F16) continue;  // the block types need whole-block heads
    EXPECT_EQ(allocations_while_decoding("tiny-llama-s1.q8_0", 3, 100, type), 0u) << dtype_name(type);
  }
}

}  // namespace
}  // namespace jisu::test
