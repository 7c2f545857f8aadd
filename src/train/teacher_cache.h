#pragma once
// The teacher's top-k log-probabilities of every training position, written to disk once and
// read back by later runs (`jisu distill --teacher-cache FILE --teacher-top-k K`), so that a run
// with the same data, windows and teacher skips the teacher's forward pass.
//
// File format (little-endian, version 1):
//   header, 128 bytes: "JISUTKC1" | u32 version | u32 id_bytes (2 when vocab <= 65536, else 4) |
//     u32 vocab | u32 k | u64 batch | u64 seq_len | u64 grad_accum | u64 steps | u64 seed |
//     f64 temperature | u64 teacher fingerprint | u64 training-token fingerprint | zeros
//   then one record per (step 1..steps, micro-batch 0..grad_accum-1), in that order, each for
//   its batch * seq_len positions (window by window, as the trainer gathers them):
//     f32 log_probs[positions * k]   log softmax(teacher / T) of the top-k tokens, by falling
//                                    probability
//     u16/u32 ids[positions * k]     their token ids
// A record is positions * k * (4 + id_bytes) bytes: K = 32 on the demo recipe (766 steps of
// 16 x 128) is 766 * 2048 * 32 * 6 B = 301 MB. The file is written atomically when the run
// that computes it reaches its last step; a run interrupted earlier leaves no file.
//
// The header is the cache's key: every field must equal the run's, else jisu::Error names the
// first that differs. The teacher fingerprint is FNV-1a over the teacher file's size and its
// first 64 MiB (the header with the metadata and tensor table, then tensor data: the whole of a
// small model); the token fingerprint is FNV-1a over the training text's token ids.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jisu {
class AtomicFile;
class MappedFile;
}  // namespace jisu

namespace jisu::train {

struct TeacherCacheKey {
  uint32_t vocab = 0, k = 0;
  uint64_t batch = 0, seq_len = 0, grad_accum = 0, steps = 0, seed = 0;
  double temperature = 0;
  uint64_t teacher_fingerprint = 0, tokens_fingerprint = 0;
  size_t positions() const { return size_t(batch * seq_len); }
};

uint64_t teacher_file_fingerprint(const std::string& teacher_path);
uint64_t tokens_fingerprint(const std::vector<int32_t>& tokens);

class TeacherTopKCache {
 public:
  // Reads `path` when it exists (jisu::Error when it is not a cache, is truncated, or was made
  // for another key), else prepares to write it. k must be in [1, vocab].
  TeacherTopKCache(std::string path, const TeacherCacheKey& key);
  ~TeacherTopKCache();

  bool reading() const { return mapped_ != nullptr; }
  const TeacherCacheKey& key() const { return key_; }
  // Reading: the record of (step, micro) into ids / log_probs [positions * k].
  void read(int64_t step, size_t micro, int32_t* ids, float* log_probs) const;
  // Writing: records in order, from (1, 0); commit() after the last one renames the file into place.
  void append(int64_t step, size_t micro, const int32_t* ids, const float* log_probs);
  void commit();

 private:
  size_t record_bytes() const;
  std::string path_;
  TeacherCacheKey key_;
  uint32_t id_bytes_ = 0;
  std::unique_ptr<MappedFile> mapped_;
  std::unique_ptr<AtomicFile> out_;
  uint64_t records_written_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace jisu::train
