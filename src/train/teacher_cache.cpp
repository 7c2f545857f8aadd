#include "train/teacher_cache.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace jisu::train {
namespace {

constexpr char kMagic[8] = {'J', 'I', 'S', 'U', 'T', 'K', 'C', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 128;
constexpr uint64_t kFingerprintBytes = uint64_t{64} << 20;

struct Fnv1a {
  uint64_t hash = 0xcbf29ce484222325ull;
  void add(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  }
};

template <class V>
void put(std::vector<uint8_t>& out, V value) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(V));
}

template <class V>
V get(const uint8_t* data, size_t& at) {
  V value;
  std::memcpy(&value, data + at, sizeof(V));
  at += sizeof(V);
  return value;
}

std::vector<uint8_t> encode_header(const TeacherCacheKey& key, uint32_t id_bytes) {
  std::vector<uint8_t> header(kMagic, kMagic + 8);
  put(header, kVersion);
  put(header, id_bytes);
  put(header, key.vocab);
  put(header, key.k);
  for (const uint64_t value : {key.batch, key.seq_len, key.grad_accum, key.steps, key.seed}) put(header, value);
  put(header, key.temperature);
  put(header, key.teacher_fingerprint);
  put(header, key.tokens_fingerprint);
  header.resize(kHeaderBytes, 0);
  return header;
}

// jisu::Error naming the first field of `found` that differs from `wanted`.
void require_same_key(const std::string& path, const TeacherCacheKey& found, const TeacherCacheKey& wanted) {
  const auto differs = [&](const char* what, const std::string& cached, const std::string& run) {
    throw Error("'" + path + "' is a teacher cache of another run: its " + what + " is " + cached + ", this run's " + run,
                "delete the file (it is written again) or give another --teacher-cache");
  };
  const auto text = [](auto value) { return std::to_string(value); };
  if (found.teacher_fingerprint != wanted.teacher_fingerprint) differs("teacher", "another file", "--teacher");
  if (found.tokens_fingerprint != wanted.tokens_fingerprint) differs("training text", "another text", "-f");
  if (found.vocab != wanted.vocab) differs("vocabulary size", text(found.vocab), text(wanted.vocab));
  if (found.k != wanted.k) differs("top-k", text(found.k), text(wanted.k));
  if (found.temperature != wanted.temperature)
    differs("temperature", text(found.temperature), text(wanted.temperature));
  if (found.seed != wanted.seed) differs("seed", text(found.seed), text(wanted.seed));
  if (found.batch != wanted.batch) differs("batch", text(found.batch), text(wanted.batch));
  if (found.seq_len != wanted.seq_len) differs("window (--ctx)", text(found.seq_len), text(wanted.seq_len));
  if (found.grad_accum != wanted.grad_accum) differs("--grad-accum", text(found.grad_accum), text(wanted.grad_accum));
  if (found.steps != wanted.steps) differs("step count", text(found.steps), text(wanted.steps));
}

}  // namespace

uint64_t teacher_file_fingerprint(const std::string& teacher_path) {
  std::ifstream in(teacher_path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open the teacher '" + teacher_path + "'");
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  Fnv1a fnv;
  fnv.add(&size, sizeof size);
  std::vector<char> chunk(1 << 20);
  for (uint64_t left = std::min(size, kFingerprintBytes); left > 0;) {
    const auto take = static_cast<std::streamsize>(std::min<uint64_t>(left, chunk.size()));
    if (!in.read(chunk.data(), take)) throw Error("cannot read the teacher '" + teacher_path + "'");
    fnv.add(chunk.data(), size_t(take));
    left -= uint64_t(take);
  }
  return fnv.hash;
}

uint64_t tokens_fingerprint(const std::vector<int32_t>& tokens) {
  Fnv1a fnv;
  fnv.add(tokens.data(), tokens.size() * sizeof(int32_t));
  return fnv.hash;
}

TeacherTopKCache::TeacherTopKCache(std::string path, const TeacherCacheKey& key) : path_(std::move(path)), key_(key) {
  if (key.k == 0 || key.k > key.vocab)
    throw Error("--teacher-top-k " + std::to_string(key.k) + " must be 1 to the vocabulary size (" +
                std::to_string(key.vocab) + ")");
  if (key.positions() == 0 || key.grad_accum == 0 || key.steps == 0) throw Error("a teacher cache needs a batch and steps");
  id_bytes_ = key.vocab <= 65536 ? 2 : 4;
  const double total = double(kHeaderBytes) + double(record_bytes()) * double(key.steps) * double(key.grad_accum);
  if (total > double(uint64_t{1} << 40))
    throw Error("the teacher cache would need " + std::to_string(uint64_t(total) >> 30) + " GiB",
                "lower --teacher-top-k");
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) {
    out_ = std::make_unique<AtomicFile>(path_);
    const std::vector<uint8_t> header = encode_header(key_, id_bytes_);
    out_->write(header.data(), header.size());
    return;
  }
  auto mapped = std::make_unique<MappedFile>(path_);
  const uint8_t* data = mapped->data();
  if (mapped->size() < kHeaderBytes || std::memcmp(data, kMagic, 8) != 0)
    throw Error("'" + path_ + "' is not a jisu teacher cache (no JISUTKC1 header)");
  size_t at = 8;
  const auto version = get<uint32_t>(data, at);
  const auto id_bytes = get<uint32_t>(data, at);
  if (version != kVersion) throw Error("'" + path_ + "' is a teacher cache of version " + std::to_string(version));
  TeacherCacheKey found;
  found.vocab = get<uint32_t>(data, at);
  found.k = get<uint32_t>(data, at);
  found.batch = get<uint64_t>(data, at);
  found.seq_len = get<uint64_t>(data, at);
  found.grad_accum = get<uint64_t>(data, at);
  found.steps = get<uint64_t>(data, at);
  found.seed = get<uint64_t>(data, at);
  found.temperature = get<double>(data, at);
  found.teacher_fingerprint = get<uint64_t>(data, at);
  found.tokens_fingerprint = get<uint64_t>(data, at);
  require_same_key(path_, found, key_);
  if (id_bytes != id_bytes_) throw Error("'" + path_ + "' stores token ids in " + std::to_string(id_bytes) + " bytes");
  const double expected = double(kHeaderBytes) + double(record_bytes()) * double(key.steps) * double(key.grad_accum);
  if (double(mapped->size()) != expected)
    throw Error("'" + path_ + "' has " + std::to_string(mapped->size()) + " bytes, not the " +
                    std::to_string(uint64_t(expected)) + " of its header (truncated?)",
                "delete the file (it is written again)");
  mapped_ = std::move(mapped);
}

TeacherTopKCache::~TeacherTopKCache() = default;

size_t TeacherTopKCache::record_bytes() const { return key_.positions() * key_.k * (sizeof(float) + id_bytes_); }

void TeacherTopKCache::read(int64_t step, size_t micro, int32_t* ids, float* log_probs) const {
  if (!mapped_) throw Error("the teacher cache '" + path_ + "' is being written, not read");
  if (step < 1 || uint64_t(step) > key_.steps || micro >= key_.grad_accum)
    throw Error("step " + std::to_string(step) + " is outside the teacher cache '" + path_ + "'");
  const size_t n = key_.positions() * key_.k;
  const uint8_t* record =
      mapped_->data() + kHeaderBytes + ((uint64_t(step) - 1) * key_.grad_accum + micro) * record_bytes();
  std::memcpy(log_probs, record, n * sizeof(float));
  const uint8_t* id_bytes = record + n * sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    uint32_t id = 0;
    if (id_bytes_ == 2) {
      uint16_t narrow;
      std::memcpy(&narrow, id_bytes + 2 * i, 2);
      id = narrow;
    } else {
      std::memcpy(&id, id_bytes + 4 * i, 4);
    }
    if (id >= key_.vocab || !(log_probs[i] <= 0.0f))
      throw Error("the teacher cache '" + path_ + "' is corrupt at step " + std::to_string(step) +
                  " (a token id outside the vocabulary or a log-probability above 0)");
    ids[i] = int32_t(id);
  }
}

void TeacherTopKCache::append(int64_t step, size_t micro, const int32_t* ids, const float* log_probs) {
  if (!out_) throw Error("the teacher cache '" + path_ + "' is being read, not written");
  if (uint64_t(step - 1) * key_.grad_accum + micro != records_written_)
    throw Error("the teacher cache '" + path_ + "' is written from step 1 in order; this run starts at step " +
                    std::to_string(step),
                "run from step 1 (not --resume) to write it, or drop --teacher-cache");
  const size_t n = key_.positions() * key_.k;
  out_->write(log_probs, n * sizeof(float));
  buffer_.resize(n * id_bytes_);
  for (size_t i = 0; i < n; ++i) {
    if (id_bytes_ == 2) {
      const auto narrow = uint16_t(ids[i]);
      std::memcpy(buffer_.data() + 2 * i, &narrow, 2);
    } else {
      std::memcpy(buffer_.data() + 4 * i, &ids[i], 4);
    }
  }
  out_->write(buffer_.data(), buffer_.size());
  ++records_written_;
}

void TeacherTopKCache::commit() {
  if (!out_) return;
  if (records_written_ != key_.steps * key_.grad_accum) return;  // an interrupted run: no file
  out_->commit();
  out_.reset();
}

}  // namespace jisu::train
