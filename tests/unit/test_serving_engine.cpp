// The serving engine on the bundled model, against an independent reference: a greedy loop
// written here over the forward pass alone (one sequence, the whole prompt in one batch, no
// scheduler, no chunking, no streaming detokenizer). Concurrent requests (mixed batches, chunked
// prompts, and with a KV cache too small for all of them: preemption and recomputation) must
// give the same tokens and text; cancelling frees the request's blocks. The CLI's Engine is a
// client of the same loop and must agree too, with its timings measured by the loop.
#include <jisu/engine.h>
#include <jisu/serving_engine.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kv/batch.h"
#include "kv/kv_cache.h"
#include "models/forward_factory.h"
#include "models/model.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace jisu {
namespace {

std::string model_path() { return std::string(JISU_SOURCE_DIR) + "/models/demo-shakespeare.q8_0.gguf"; }

StreamUpdate read_to_end(RequestStream& stream) {
  StreamUpdate update;
  while (!update.finished) stream.read(update, std::chrono::milliseconds(1000));
  return update;
}

struct GreedyReference {
  std::string text;
  int32_t completion_tokens = 0;
  FinishReason finish_reason = FinishReason::Length;
};

// Greedy decoding by hand: argmax (lowest id on ties) until max_tokens or end of generation.
class GreedyLoop {
 public:
  explicit GreedyLoop(int32_t context_length)
      : model_(Model::load(model_path())), tokenizer_(Tokenizer::from_gguf(model_->file())), pool_(1) {
    KvCacheOptions options;
    options.context_length = context_length;
    options.max_sequences = 1;
    // The serving engine's default cache types: the reference computes what it computes.
    options.key_type = kv_cache_type_or_default(ServingOptions{}.cache_type_k, false);
    options.value_type = kv_cache_type_or_default(ServingOptions{}.cache_type_v, false);
    cache_ = std::make_unique<KvCache>(model_->config().context_length, options);
    forward_ = make_forward_pass({}, model_->config(), model_->weights(), pool_, context_length, *cache_);
    logits_.resize(static_cast<size_t>(model_->config().n_vocab));
  }

  GreedyReference generate(const std::string& prompt, int32_t max_tokens) {
    std::vector<int32_t> tokens = tokenizer_->encode(prompt, true, false);
    const auto prompt_length = static_cast<int32_t>(tokens.size());
    cache_->release(0);
    Batch batch;
    for (int32_t i = 0; i < prompt_length; ++i) batch.add(tokens[static_cast<size_t>(i)], i, 0, i + 1 == prompt_length);
    forward_->forward(batch, *cache_, logits_.data());
    GreedyReference result;
    std::vector<int32_t> generated;
    while (static_cast<int32_t>(generated.size()) < max_tokens) {
      const auto token = static_cast<int32_t>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin());
      if (tokenizer_->is_end_of_generation(token)) {
        result.finish_reason = FinishReason::EndOfGeneration;
        break;
      }
      generated.push_back(token);
      batch.clear();
      batch.add(token, prompt_length + static_cast<int32_t>(generated.size()) - 1, 0, true);
      forward_->forward(batch, *cache_, logits_.data());
    }
    result.text = tokenizer_->decode(generated);
    result.completion_tokens = static_cast<int32_t>(generated.size());
    return result;
  }

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  ThreadPool pool_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardPass> forward_;
  std::vector<float> logits_;
};

TEST(ServingEngine, ConcurrentGreedyEqualsSingleSequenceEvenWithPreemption) {
  constexpr int32_t kContext = 128;
  GreedyLoop reference(kContext);

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
    const GreedyReference expected = reference.generate(prompts[i], params.max_tokens);
    EXPECT_EQ(served.text, expected.text) << "prompt " << i;
    EXPECT_EQ(served.completion_tokens, expected.completion_tokens) << "prompt " << i;
    EXPECT_EQ(served.finish_reason, expected.finish_reason) << "prompt " << i;
  }
  const ServingMetrics metrics = engine->metrics();
  EXPECT_GT(metrics.preemptions, 0u);
  EXPECT_EQ(metrics.kv_blocks_used, 0);
  EXPECT_EQ(metrics.requests_finished, prompts.size());
}

// Speculative decoding by n-gram lookup changes how many tokens a forward yields, never which:
// greedy output equals the reference, in mixed batches, with preemption, and drafts get accepted.
TEST(ServingEngine, NgramSpeculationKeepsGreedyOutputExact) {
  constexpr int32_t kContext = 160;
  GreedyLoop reference(kContext);
  ServingOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.context_length = kContext;
  options.max_sequences = 3;
  options.max_batch_tokens = 20;
  options.kv_blocks = 16;  // 256 positions for 3 sequences growing to ~130: preemption
  options.speculative_ngram = 5;
  auto engine = ServingEngine::create(options);

  const std::vector<std::string> prompts = {
      "ROMEO:\nBut soft, what light through yonder window breaks? It is the east.\nJULIET:\nBut soft, what light",
      "KING HENRY:\nOnce more unto the breach, dear friends, once more;\nOnce more unto the breach,",
      "HAMLET:", "First Citizen:\nBefore we proceed any further, hear me speak."};
  SamplingParams params = SamplingParams::greedy();
  params.max_tokens = 90;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& prompt : prompts) {
    SubmitResult result = engine->submit(engine->tokenize(prompt, true, false), params);
    ASSERT_EQ(result.status, SubmitStatus::Accepted) << result.message;
    streams.push_back(result.stream);
  }
  int32_t accepted = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const StreamUpdate served = read_to_end(*streams[i]);
    const GreedyReference expected = reference.generate(prompts[i], params.max_tokens);
    EXPECT_EQ(served.text, expected.text) << "prompt " << i;
    EXPECT_EQ(served.completion_tokens, expected.completion_tokens) << "prompt " << i;
    EXPECT_LE(served.accepted_draft_tokens, served.draft_tokens);
    EXPECT_LE(served.forward_steps, served.completion_tokens + 1);
    accepted += served.accepted_draft_tokens;
  }
  const ServingMetrics metrics = engine->metrics();
  EXPECT_GT(accepted, 20);
  EXPECT_EQ(metrics.accepted_draft_tokens, static_cast<uint64_t>(accepted));
  EXPECT_GT(metrics.preemptions, 0u);
  EXPECT_EQ(metrics.kv_blocks_used, 0);

  // A request may turn speculation off for itself.
  SamplingParams plain = params;
  plain.speculative_ngram = 0;
  const StreamUpdate unspeculated = read_to_end(*engine->submit(engine->tokenize(prompts[0], true, false), plain).stream);
  EXPECT_EQ(unspeculated.draft_tokens, 0);
  EXPECT_EQ(unspeculated.text, reference.generate(prompts[0], params.max_tokens).text);
}

// A draft model (the same model quantized to Q4_K_M: it agrees with the target most of the time
// but not always, so drafts are both accepted and rejected) changes speed only: greedy output
// equals the reference, in mixed batches with preemption, with slots changing owners.
TEST(ServingEngine, DraftModelSpeculationKeepsGreedyOutputExact) {
  constexpr int32_t kContext = 160;
  GreedyLoop reference(kContext);
  ServingOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.context_length = kContext;
  options.max_sequences = 3;
  options.max_batch_tokens = 24;
  options.kv_blocks = 10;  // 160 positions for 3 sequences growing to ~100: preemption
  options.draft_model_path = test::shared_dir() + "/models/demo-shakespeare/model.q4_k_m.gguf";
  options.draft_max = 6;
  auto engine = ServingEngine::create(options);

  const std::vector<std::string> prompts = {"ROMEO:", "KING HENRY:\nOnce more unto the breach, dear friends,", "HAMLET:",
                                            "First Citizen:\nBefore we proceed any further, hear me speak.",
                                            "JULIET:\nO Romeo, Romeo,"};
  SamplingParams params = SamplingParams::greedy();
  params.max_tokens = 80;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const std::string& prompt : prompts) {
    SubmitResult result = engine->submit(engine->tokenize(prompt, true, false), params);
    ASSERT_EQ(result.status, SubmitStatus::Accepted) << result.message;
    streams.push_back(result.stream);
  }
  int32_t drafted = 0, accepted = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const StreamUpdate served = read_to_end(*streams[i]);
    const GreedyReference expected = reference.generate(prompts[i], params.max_tokens);
    EXPECT_EQ(served.text, expected.text) << "prompt " << i;
    EXPECT_EQ(served.completion_tokens, expected.completion_tokens) << "prompt " << i;
    EXPECT_LE(served.accepted_draft_tokens, served.draft_tokens);
    drafted += served.draft_tokens;
    accepted += served.accepted_draft_tokens;
  }
  EXPECT_GT(accepted, drafted / 2);  // the quantized twin mostly agrees ...
  EXPECT_LT(accepted, drafted);      // ... but not always: rejections were exercised
  const ServingMetrics metrics = engine->metrics();
  EXPECT_GT(metrics.preemptions, 0u);
  EXPECT_EQ(metrics.kv_blocks_used, 0);

  // Sampled output under the draft model stays valid and within budget; a request may turn the
  // draft model off for itself.
  SamplingParams sampled;
  sampled.seed = 7;
  sampled.max_tokens = 40;
  const StreamUpdate drawn = read_to_end(*engine->submit(engine->tokenize("ROMEO:", true, false), sampled).stream);
  EXPECT_LE(drawn.completion_tokens, 40);
  EXPECT_GT(drawn.draft_tokens, 0);
  SamplingParams plain = params;
  plain.speculative_draft = 0;
  const StreamUpdate unspeculated = read_to_end(*engine->submit(engine->tokenize(prompts[0], true, false), plain).stream);
  EXPECT_EQ(unspeculated.draft_tokens, 0);
  EXPECT_EQ(unspeculated.text, reference.generate(prompts[0], params.max_tokens).text);
}

TEST(ServingEngine, RefusesADraftModelWithAnotherVocabulary) {
  ServingOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.draft_model_path = test::fixtures_dir() + "/models/tiny-gemma-s1.f16.gguf";
  try {
    ServingEngine::create(options);
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("another vocabulary"), std::string::npos) << error.what();
  }
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

TEST(Engine, IsTheServingLoopForOnePromptWithItsTimingsAndCancellation) {
  constexpr int32_t kContext = 128;
  GreedyLoop reference(kContext);
  EngineOptions options;
  options.model_path = model_path();
  options.threads = 1;
  options.context_length = kContext;
  options.max_batch_tokens = 5;  // the prompt is chunked
  auto engine = Engine::create(options);
  EXPECT_EQ(engine->summary().context_length, kContext);

  SamplingParams params = SamplingParams::greedy();
  params.max_tokens = 40;
  const std::string prompt = "JULIET:\nO Romeo, Romeo, wherefore art thou";
  std::string streamed;
  const GenerationResult result = engine->generate(prompt, params, [&](std::string_view piece) {
    streamed.append(piece);
    return true;
  });
  const GreedyReference expected = reference.generate(prompt, params.max_tokens);
  EXPECT_EQ(result.text, expected.text);
  EXPECT_EQ(streamed, expected.text);
  EXPECT_EQ(result.completion_tokens, expected.completion_tokens);
  EXPECT_EQ(result.finish_reason, expected.finish_reason);
  EXPECT_EQ(result.prompt_tokens, static_cast<int32_t>(engine->tokenize(prompt).size()));
  EXPECT_GT(result.prompt_seconds, 0.0);
  EXPECT_GT(result.generation_seconds, 0.0);
  EXPECT_EQ(engine->detokenize(engine->tokenize(prompt, false)), prompt);

  // A callback that refuses more text cancels: the text stops at what it accepted.
  std::string first_piece;
  const GenerationResult stopped = engine->generate(prompt, params, [&](std::string_view piece) {
    first_piece = piece;
    return false;
  });
  EXPECT_EQ(stopped.finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(stopped.text, first_piece);
  EXPECT_FALSE(first_piece.empty());

  // The engine is reusable after a cancel, and a too-long prompt is an error with a hint.
  EXPECT_EQ(engine->generate(prompt, params).text, expected.text);
  EXPECT_THROW(engine->generate_from_tokens(std::vector<int32_t>(kContext, 1), params), Error);
}

}  // namespace
}  // namespace jisu
