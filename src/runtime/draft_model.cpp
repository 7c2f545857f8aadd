#include "runtime/draft_model.h"

#include <algorithm>

#include "core/error.h"

namespace jisu {
namespace {

constexpr int32_t kDraftBlockSize = 16;
constexpr int32_t kDraftBatchTokens = 256;  // prompt catch-up is chunked into batches of this size

int32_t argmax(const float* row, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (row[i] > row[best]) best = i;  // ties: the lowest id, as greedy sampling does
  return best;
}

}  // namespace

DraftModel::DraftModel(const std::string& path, const Tokenizer& target_tokenizer, ThreadPool& pool,
                       const DeviceOptions& device, int32_t max_sequences, int32_t context_length, int32_t max_draft)
    : max_draft_(max_draft) {
  if (max_draft <= 0) throw Error("the draft length must be positive", "set --draft-max to 1 or more");
  model_ = Model::load(path);
  const ModelConfig& config = model_->config();
  const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_gguf(model_->file());
  const auto differs = [&](const std::string& what) {
    return Error("the draft model " + path + " has another vocabulary than the target: " + what,
                 "a draft must share the target's tokenizer (e.g. a smaller model of the same family)");
  };
  if (tokenizer->n_vocab() != target_tokenizer.n_vocab() || config.n_vocab != target_tokenizer.n_vocab())
    throw differs(std::to_string(config.n_vocab) + " tokens against " + std::to_string(target_tokenizer.n_vocab()));
  for (int32_t id = 0; id < target_tokenizer.n_vocab(); ++id)
    if (tokenizer->token_text(id) != target_tokenizer.token_text(id))
      throw differs("token " + std::to_string(id) + " is '" + std::string(tokenizer->token_text(id)) + "' against '" +
                    std::string(target_tokenizer.token_text(id)) + "'");
  n_vocab_ = config.n_vocab;
  context_length_ = std::min(context_length, config.context_length);

  KvCacheOptions cache_options;
  cache_options.block_size = kDraftBlockSize;
  cache_options.max_sequences = max_sequences;
  cache_options.context_length = context_length_;
  cache_options.n_blocks = max_sequences * ((context_length_ + kDraftBlockSize - 1) / kDraftBlockSize);
  cache_ = std::make_unique<KvCache>(config.context_length, cache_options);
  max_batch_tokens_ = std::max(kDraftBatchTokens, max_sequences);
  forward_ = make_forward_pass(device, config, model_->weights(), pool, max_batch_tokens_, *cache_);

  slots_.resize(static_cast<size_t>(max_sequences));
  for (SlotState& slot : slots_) slot.computed.reserve(static_cast<size_t>(context_length_));
  batch_.reserve(static_cast<size_t>(max_batch_tokens_));
  logits_.resize(static_cast<size_t>(max_sequences) * static_cast<size_t>(n_vocab_));
  logits_row_.reserve(static_cast<size_t>(max_sequences));
  pending_from_.reserve(static_cast<size_t>(max_sequences));
}

void DraftModel::propose(std::span<DraftRequest> requests) {
  JISU_ASSERT(requests.size() <= slots_.size());
  logits_row_.assign(requests.size(), -1);
  pending_from_.assign(requests.size(), -1);

  // Bring each slot to its request's tokens: keep the common prefix (the draft's rejected
  // tokens are cut off) but always feed at least the last token, whose logits start the draft.
  for (size_t i = 0; i < requests.size(); ++i) {
    DraftRequest& request = requests[i];
    request.draft->clear();
    const auto size = static_cast<int64_t>(request.tokens.size());
    const int32_t length = std::min(request.length, max_draft_);
    if (length <= 0 || size == 0 || size + length > context_length_) continue;
    SlotState& slot = slots_[static_cast<size_t>(request.slot)];
    if (slot.owner != request.owner) {
      cache_->release(request.slot);
      slot.computed.clear();
      slot.owner = request.owner;
    }
    const auto limit = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(slot.computed.size()), size - 1));
    size_t common = 0;
    while (common < limit && slot.computed[common] == request.tokens[common]) ++common;
    if (common < slot.computed.size()) {
      cache_->truncate(request.slot, static_cast<int32_t>(common));
      slot.computed.resize(common);
    }
    pending_from_[i] = static_cast<int32_t>(common);
  }

  // Catch-up, in as many batches as the tokens need; each request's last token gets a logits
  // row, in request order.
  int32_t rows = 0;
  int32_t rows_in_batch = 0;
  const auto flush = [&] {
    if (batch_.size() == 0) return;
    forward_->forward(batch_, *cache_, logits_.data() + static_cast<size_t>(rows - rows_in_batch) * static_cast<size_t>(n_vocab_));
    batch_.clear();
    rows_in_batch = 0;
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    if (pending_from_[i] < 0) continue;
    const DraftRequest& request = requests[i];
    SlotState& slot = slots_[static_cast<size_t>(request.slot)];
    const auto size = static_cast<int32_t>(request.tokens.size());
    for (int32_t position = pending_from_[i]; position < size; ++position) {
      if (batch_.size() == static_cast<size_t>(max_batch_tokens_)) flush();
      const bool last = position + 1 == size;
      const int32_t token = request.tokens[static_cast<size_t>(position)];
      batch_.add(token, position, request.slot, last);
      slot.computed.push_back(token);
      if (last) {
        logits_row_[i] = rows++;
        ++rows_in_batch;
      }
    }
  }
  flush();

  // Greedy decoding, all requests in step: draft token j comes from the row of token j - 1.
  for (int32_t j = 0;; ++j) {
    rows = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (logits_row_[i] < 0) continue;
      DraftRequest& request = requests[i];
      const int32_t token = argmax(logits_.data() + static_cast<size_t>(logits_row_[i]) * static_cast<size_t>(n_vocab_), n_vocab_);
      request.draft->push_back(token);
      logits_row_[i] = -1;
      if (j + 1 >= std::min(request.length, max_draft_)) continue;
      const auto position = static_cast<int32_t>(request.tokens.size()) + j;
      batch_.add(token, position, request.slot, true);
      slots_[static_cast<size_t>(request.slot)].computed.push_back(token);
      logits_row_[i] = rows++;
    }
    if (rows == 0) break;
    forward_->forward(batch_, *cache_, logits_.data());
    batch_.clear();
  }
}

}  // namespace jisu
