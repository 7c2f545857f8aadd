// The serving engine on the bundled model, against an independent reference: the
// single-sequence Engine::generate. Concurrent requests (mixed batches, chunked prompts, and
// with a KV cache too small for all of them: preemption and recomputation) must give the same
// greedy tokens; cancelling frees the request's blocks.
#include <jisu/engine.h>
#include <jisu/serving_engine.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace jisu {
namespace {

std::string model_path() { return std::string(JISU_SOURCE_DIR) + "/models/demo-shakespeare.q8_0.gguf"; }

StreamUpdate read_to_end(RequestStream& stream) {
  StreamUpdate update;
  while (!update.finished) stream.read(update, std::chrono::milliseconds(1000));
  return update;
}

TEST(ServingEngine, ConcurrentGreedyEqualsSingleSequenceEvenWithPreemption) {
  constexpr int32_t kContext = 128;
  EngineOptions reference_options;
  reference_options.model_path = model_path();
  reference_options.threads = 1;
  reference_options.context_length = kContext;
  auto reference = Engine::create(reference_options);

  ServingOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.context_length = kContext;
  options.max_sequences = 4;
  options.max_batch_tokens = 24;  // prompts are chunked and mixed with decodes
  options.kv_blocks = 12;         // 192 positions for 4 sequences growing to ~70: preemption
  auto engine = ServingEngine::create(options);

  const std::vector<std::string> prompts = {"ROMEO:", "JULIET:\nO Romeo, Romeo, wherefore art thou", "KING HENRY:\n",
                                            "First Citizen:\nBefore we proceed any further, hear me speak.",
                                            "HAMLET:", "MENENIUS:\nWhat work's, my countrymen, in hand?"};
  SamplingParams params = SamplingParams::greedy();
  params.max_tokens = 60;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& prompt : prompts) {
    SubmitResult result = engine->submit(engine->tokenize(prompt, true, false), params);
    ASSERT_EQ(result.status, SubmitStatus::Accepted) << result.message;
    streams.push_back(result.stream);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const StreamUpdate served = read_to_end(*streams[i]);
    const GenerationResult expected = reference->generate(prompts[i], params);
    EXPECT_EQ(served.text, expected.text) << "prompt " << i;
    EXPECT_EQ(served.completion_tokens, static_cast<int32_t>(expected.tokens.size())) << "prompt " << i;
    EXPECT_EQ(served.finish_reason, expected.finish_reason) << "prompt " << i;
  }
  const ServingMetrics metrics = engine->metrics();
  EXPECT_GT(metrics.preemptions, 0u);
  EXPECT_EQ(metrics.kv_blocks_used, 0);
  EXPECT_EQ(metrics.requests_finished, prompts.size());
}

TEST(ServingEngine, RefusesBadRequestsAndCancelFreesBlocks) {
  ServingOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.context_length = 64;
  options.max_sequences = 2;
  options.max_queue = 1;
  auto engine = ServingEngine::create(options);
  SamplingParams params = SamplingParams::greedy();

  EXPECT_EQ(engine->submit({}, params).status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(engine->submit({1, 5000000}, params).status, SubmitStatus::InvalidRequest);
  EXPECT_EQ(engine->submit(std::vector<int32_t>(64, 1), params).status, SubmitStatus::PromptTooLong);
  SamplingParams bad = params;
  bad.top_p = 2.0f;
  EXPECT_EQ(engine->submit({1, 2}, bad).status, SubmitStatus::InvalidRequest);

  params.max_tokens = -1;  // until the context is full: long enough to cancel midway
  SubmitResult running = engine->submit(engine->tokenize("ROMEO:", true, false), params);
  ASSERT_EQ(running.status, SubmitStatus::Accepted);
  StreamUpdate first;
  while (first.text.empty()) running.stream->read(first, std::chrono::milliseconds(1000));
  running.stream->cancel();
  const StreamUpdate end = read_to_end(*running.stream);
  EXPECT_EQ(end.finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(engine->metrics().kv_blocks_used, 0);
  EXPECT_EQ(engine->metrics().requests_cancelled, 1u);

  engine->shutdown();
  EXPECT_EQ(engine->submit({1, 2}, params).status, SubmitStatus::ShuttingDown);
}

}  // namespace
}  // namespace jisu
