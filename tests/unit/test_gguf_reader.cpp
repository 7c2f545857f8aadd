// GgufFile against real fixtures (every model and vocab opens, values match what the fixtures
// README says) and against corrupted copies of them: every corruption must be a jisu::Error
// naming the problem, never a crash, a hang or another exception. Ends with a bounded
// random-mutation fuzz loop over the header region.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "format/gguf_file.h"
#include "format/gguf_writer.h"
#include "temp_dir.h"
#include "test_support.h"

namespace jisu::gguf {
namespace {

namespace fs = std::filesystem;

std::string model_path(const std::string& name) { return test::fixtures_dir() + "/models/" + name; }

using test::TempDir;

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<char> bytes = test::read_bytes(path);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}
void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file(path, bytes.data(), bytes.size());
}

template <typename T>
void put(std::vector<uint8_t>& bytes, uint64_t at, T value) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}
template <typename T>
T get(const std::vector<uint8_t>& bytes, uint64_t at) {
  T value{};
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

// Where everything is in a well-formed GGUF file, found by an independent minimal parser, so a
// test can corrupt exactly one field.
struct Layout {
  struct Entry {
    std::string key;
    uint64_t start = 0;     // the key's length prefix
    uint64_t type_at = 0;   // the value type
    uint64_t value_at = 0;  // the value (for arrays: the element type)
    uint64_t end = 0;
    uint32_t type = 0;
    std::vector<uint64_t> element_starts;  // arrays of strings: each element's length prefix
  };
  struct Tensor {
    std::string name;
    uint64_t start = 0, ndims_at = 0, dims_at = 0, type_at = 0, offset_at = 0, end = 0;
    std::vector<uint64_t> dims;
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  std::vector<Entry> entries;
  std::vector<Tensor> tensors;
  uint64_t infos_start = 0, infos_end = 0, data_offset = 0;

  const Entry& entry(const std::string& key) const {
    for (const Entry& e : entries)
      if (e.key == key) return e;
    ADD_FAILURE() << "no key " << key;
    return entries.front();
  }
  const Tensor& tensor(const std::string& name) const {
    for (const Tensor& t : tensors)
      if (t.name == name) return t;
    ADD_FAILURE() << "no tensor " << name;
    return tensors.front();
  }
};

class LayoutScanner {
 public:
  explicit LayoutScanner(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}

  Layout scan() {
    Layout layout;
    at_ = 8;
    const uint64_t tensor_count = u64();
    const uint64_t entry_count = u64();
    for (uint64_t i = 0; i < entry_count; ++i) {
      Layout::Entry entry;
      entry.start = at_;
      entry.key = str();
      entry.type_at = at_;
      entry.type = u32();
      entry.value_at = at_;
      if (entry.type == 9 && get<uint32_t>(bytes_, at_) == 8) {  // array of strings
        at_ += 4;
        const uint64_t count = u64();
        for (uint64_t k = 0; k < count; ++k) {
          entry.element_starts.push_back(at_);
          str();
        }
      } else {
        skip_value(entry.type);
      }
      entry.end = at_;
      layout.entries.push_back(entry);
    }
    layout.infos_start = at_;
    for (uint64_t i = 0; i < tensor_count; ++i) {
      Layout::Tensor tensor;
      tensor.start = at_;
      tensor.name = str();
      tensor.ndims_at = at_;
      const uint32_t n_dims = u32();
      tensor.dims_at = at_;
      for (uint32_t d = 0; d < n_dims; ++d) tensor.dims.push_back(u64());
      tensor.type_at = at_;
      tensor.type = u32();
      tensor.offset_at = at_;
      tensor.offset = u64();
      tensor.end = at_;
      layout.tensors.push_back(tensor);
    }
    layout.infos_end = at_;
    layout.data_offset = (at_ + 31) / 32 * 32;  // the fixtures use the default alignment
    return layout;
  }

 private:
  uint32_t u32() { at_ += 4; return get<uint32_t>(bytes_, at_ - 4); }
  uint64_t u64() { at_ += 8; return get<uint64_t>(bytes_, at_ - 8); }
  std::string str() {
    const uint64_t n = u64();
    std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n);
    at_ += n;
    return s;
  }
  void skip_value(uint32_t type) {
    static constexpr uint64_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
      str();
    } else if (type == 9) {
      const uint32_t element = u32();
      const uint64_t count = u64();
      for (uint64_t i = 0; i < count; ++i) skip_value(element);
    } else {
      at_ += sizes[type];
    }
  }

  const std::vector<uint8_t>& bytes_;
  uint64_t at_ = 0;
};

// Opens `path` and requires a jisu::Error whose message contains one of `keywords`.
void expect_rejected(const std::string& path, std::initializer_list<const char*> keywords, const std::string& what) {
  SCOPED_TRACE(what);
  try {
    auto file = GgufFile::open(path);
    ADD_FAILURE() << "opened a corrupted file (" << what << ")";
  } catch (const Error& error) {
    const std::string message = error.what();
    bool found = false;
    for (const char* keyword : keywords) found = found || message.find(keyword) != std::string::npos;
    std::string wanted;
    for (const char* keyword : keywords) wanted += std::string(wanted.empty() ? "" : " | ") + keyword;
    EXPECT_TRUE(found) << "message: " << message << "\nwanted: " << wanted;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message is not one line: " << message;
  } catch (const std::exception& error) {
    ADD_FAILURE() << "not a jisu::Error: " << error.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Good files.

TEST(GgufReader, EveryFixtureModelOpens) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(test::fixtures_dir() + "/models")) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    ++count;
    auto file = GgufFile::open(entry.path().string());
    EXPECT_EQ(file->version(), 3u);
    EXPECT_EQ(file->alignment(), 32u);
    const std::string stem = entry.path().filename().string();  // tiny-ARCH-s1.QTYPE.gguf
    const std::string arch_in_name = stem.substr(5, stem.find("-s1") - 5);
    const std::string arch = file->get_string("general.architecture").value_or("");
    EXPECT_EQ(arch, arch_in_name == "moe" ? "llama" : arch_in_name);
    EXPECT_EQ(file->get_int(arch + ".embedding_length"), 256);
    EXPECT_EQ(file->get_int(arch + ".block_count"), 3);
    EXPECT_EQ(file->get_int(arch + ".attention.head_count"), 4);
    ASSERT_NE(file->get_string_array("tokenizer.ggml.tokens"), nullptr);
    EXPECT_EQ(file->get_string_array("tokenizer.ggml.tokens")->size(), 512u);
    EXPECT_EQ(file->get_float(arch + ".rope.freq_base"), 10000.0);
    if (arch_in_name == "moe") {
      EXPECT_EQ(file->get_int("llama.expert_count"), 4);
      EXPECT_EQ(file->get_int("llama.expert_used_count"), 2);
    }
    ASSERT_FALSE(file->tensors().empty());
    ASSERT_NE(file->find_tensor("token_embd.weight"), nullptr);
    EXPECT_EQ(file->find_tensor("token_embd.weight")->shape, (std::vector<uint64_t>{256, 512}));
    for (const TensorInfo& tensor : file->tensors()) {
      EXPECT_EQ(tensor.offset % file->alignment(), 0u) << tensor.name;
      EXPECT_NE(tensor.data, nullptr);
      EXPECT_LE(file->data_offset() + tensor.offset + tensor.byte_size, file->file_size()) << tensor.name;
      EXPECT_EQ(tensor.byte_size, tensor.rows() * row_bytes(tensor.type, tensor.shape[0])) << tensor.name;
    }
  }
  EXPECT_GE(count, 20);
}

TEST(GgufReader, EveryFixtureVocabOpens) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(test::fixtures_dir() + "/tokenizers")) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    ++count;
    auto file = GgufFile::open(entry.path().string());
    EXPECT_TRUE(file->tensors().empty());
    EXPECT_TRUE(file->get_string("general.architecture").has_value());
    EXPECT_TRUE(file->get_string("tokenizer.ggml.model").has_value());
    const auto* tokens = file->get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_GT(tokens->size(), 1000u);
    if (const auto* merges = file->find("tokenizer.ggml.merges")) {
      EXPECT_TRUE(merges->is_array());
      EXPECT_EQ(merges->element_type, ValueType::STRING);
    }
  }
  EXPECT_GE(count, 10);
}

TEST(GgufReader, LlamaQ4KMetadataAndTensors) {
  auto file = GgufFile::open(model_path("tiny-llama-s1.q4_k_m.gguf"));
  EXPECT_EQ(file->metadata().size(), 23u);
  EXPECT_EQ(file->metadata().front().first, "general.architecture");
  EXPECT_EQ(file->get_string("general.architecture"), "llama");
  EXPECT_EQ(file->get_string("general.name"), "tiny random test model");
  EXPECT_EQ(file->get_int("llama.embedding_length"), 256);
  EXPECT_EQ(file->get_int("llama.context_length"), 512);
  EXPECT_EQ(file->get_int("llama.feed_forward_length"), 512);
  EXPECT_EQ(file->get_int("llama.attention.head_count_kv"), 2);
  EXPECT_EQ(file->get_int("llama.rope.dimension_count"), 64);
  EXPECT_NEAR(*file->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(file->get_int("general.file_type"), 15);  // Q4_K_M
  EXPECT_EQ(file->get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file->get_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(file->get_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(file->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(file->get_bool("tokenizer.ggml.add_eos_token"), false);
  const auto* tokens = file->get_string_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ((*tokens)[0], "<unk>");
  EXPECT_EQ((*tokens)[1], "<s>");
  EXPECT_EQ((*tokens)[2], "</s>");
  ASSERT_NE(file->get_float_array("tokenizer.ggml.scores"), nullptr);
  EXPECT_EQ(file->get_float_array("tokenizer.ggml.scores")->size(), 512u);
  const auto* token_type = file->get_int_array("tokenizer.ggml.token_type");
  ASSERT_NE(token_type, nullptr);
  ASSERT_EQ(token_type->size(), 512u);
  EXPECT_EQ((*token_type)[0], 2);  // unknown
  EXPECT_EQ((*token_type)[1], 3);  // control
  EXPECT_FALSE(file->get_string("no.such.key").has_value());

  // Typed getters refuse the wrong type.
  EXPECT_THROW(file->get_int("general.architecture"), Error);
  EXPECT_THROW(file->get_string("llama.block_count"), Error);
  EXPECT_THROW(file->get_string_array("tokenizer.ggml.scores"), Error);
  EXPECT_THROW(file->get_float_array("tokenizer.ggml.tokens"), Error);

  ASSERT_EQ(file->tensors().size(), 30u);
  struct Expected {
    const char* name;
    DType type;
    std::vector<uint64_t> shape;
  };
  const Expected expected[] = {
      {"output.weight", DType::Q6_K, {256, 512}},
      {"output_norm.weight", DType::F32, {256}},
      {"token_embd.weight", DType::Q4_K, {256, 512}},
      {"blk.0.attn_k.weight", DType::Q4_K, {256, 128}},
      {"blk.0.ffn_down.weight", DType::Q4_K, {512, 256}},
      {"blk.2.attn_v.weight", DType::Q6_K, {256, 128}},
      {"blk.2.ffn_down.weight", DType::Q6_K, {512, 256}},
      {"blk.2.ffn_norm.weight", DType::F32, {256}},
  };
  for (const Expected& e : expected) {
    const TensorInfo* tensor = file->find_tensor(e.name);
    ASSERT_NE(tensor, nullptr) << e.name;
    EXPECT_EQ(tensor->type, e.type) << e.name;
    EXPECT_EQ(tensor->shape, e.shape) << e.name;
  }
  EXPECT_EQ(file->tensors()[0].name, "output.weight");
  EXPECT_EQ(file->tensors()[0].offset, 0u);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->offset, 108544u);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->byte_size, 512u * 144u);
  EXPECT_EQ(file->data_offset(), 13472u);
  int counts[3] = {};  // q4_K, q6_K, f32
  for (const TensorInfo& tensor : file->tensors())
    counts[tensor.type == DType::Q4_K ? 0 : tensor.type == DType::Q6_K ? 1 : 2]++;
  EXPECT_EQ(counts[0], 20);
  EXPECT_EQ(counts[1], 3);
  EXPECT_EQ(counts[2], 7);
  EXPECT_EQ(file->find_tensor("no.such.tensor"), nullptr);
}

TEST(GgufReader, F32TensorDataIsInPlace) {
  const std::string path = model_path("tiny-llama-s1.f32.gguf");
  auto file = GgufFile::open(path);
  const std::vector<uint8_t> bytes = read_file(path);
  ASSERT_EQ(bytes.size(), file->file_size());
  uint64_t parameters = 0;
  for (const TensorInfo& tensor : file->tensors()) {
    EXPECT_EQ(tensor.type, DType::F32);
    EXPECT_EQ(tensor.byte_size, tensor.element_count * 4);
    EXPECT_EQ(std::memcmp(tensor.data, bytes.data() + file->data_offset() + tensor.offset, tensor.byte_size), 0);
    parameters += tensor.element_count;
  }
  // 2 x 256x512 (embeddings, output) + 3 layers x (4 attention matrices, 3 ffn, 2 norms) + norm.
  EXPECT_EQ(parameters, 2u * 256 * 512 + 3u * (256 * 256 * 2 + 256 * 128 * 2 + 3 * 256 * 512 + 2 * 256) + 256);
  const TensorInfo* norm = file->find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  float first = 0;
  std::memcpy(&first, norm->data, sizeof(first));
  EXPECT_TRUE(std::isfinite(first));
}

TEST(GgufReader, Version2FileOpens) {
  TempDir dir;
  GgufWriter writer(2);
  writer.set_string("general.architecture", "llama");
  writer.set_uint32("llama.embedding_length", 8);
  const std::vector<float> weights = {1, 2, 3, 4, 5, 6, 7, 8};
  writer.add_tensor("w", DType::F32, {8}, weights.data());
  writer.write(dir.file("v2.gguf"));
  auto file = GgufFile::open(dir.file("v2.gguf"));
  EXPECT_EQ(file->version(), 2u);
  EXPECT_EQ(file->get_string("general.architecture"), "llama");
  ASSERT_EQ(file->tensors().size(), 1u);
  EXPECT_EQ(std::memcmp(file->tensors()[0].data, weights.data(), 32), 0);
}

TEST(GgufReader, ArrayNestingLimit) {
  // A file with one key holding `levels` nested arrays around one uint8.
  auto nested = [](int levels) {
    std::vector<uint8_t> bytes;
    auto add = [&](const void* data, size_t n) {
      bytes.insert(bytes.end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + n);
    };
    auto add32 = [&](uint32_t v) { add(&v, 4); };
    auto add64 = [&](uint64_t v) { add(&v, 8); };
    add("GGUF", 4);
    add32(3);
    add64(0);  // tensors
    add64(1);  // metadata
    add64(1);
    add("k", 1);
    add32(9);  // ARRAY
    for (int i = 1; i < levels; ++i) {
      add32(9);
      add64(1);
    }
    add32(0);  // UINT8
    add64(1);
    bytes.push_back(7);
    return bytes;
  };
  TempDir dir;
  write_file(dir.file("ok.gguf"), nested(8));
  auto file = GgufFile::open(dir.file("ok.gguf"));
  const MetadataValue* value = file->find("k");
  ASSERT_NE(value, nullptr);
  for (int i = 1; i < 8; ++i) {
    ASSERT_EQ(value->arrays.size(), 1u);
    value = &value->arrays[0];
  }
  ASSERT_EQ(value->integers, std::vector<int64_t>{7});

  write_file(dir.file("deep.gguf"), nested(9));
  expect_rejected(dir.file("deep.gguf"), {"nested deeper"}, "9 nested arrays");
  write_file(dir.file("deeper.gguf"), nested(100000));
  expect_rejected(dir.file("deeper.gguf"), {"nested deeper"}, "100000 nested arrays");
}

TEST(GgufReader, NotAFile) {
  TempDir dir;
  expect_rejected(dir.file("missing.gguf"), {"cannot open"}, "missing file");
  expect_rejected(dir.path(), {"not a regular file"}, "a directory");
  write_file(dir.file("empty.gguf"), std::vector<uint8_t>{});
  expect_rejected(dir.file("empty.gguf"), {"truncated"}, "empty file");
  const std::string text = "This is not a model, just some text.\n";
  write_file(dir.file("text.gguf"), reinterpret_cast<const uint8_t*>(text.data()), text.size());
  expect_rejected(dir.file("text.gguf"), {"magic"}, "text file");
}

// ---------------------------------------------------------------------------------------------
// Corrupted copies of a quantized and an f32 fixture.

class GgufCorrupt : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    original_ = read_file(model_path(GetParam()));
    ASSERT_GT(original_.size(), 100000u);
    layout_ = LayoutScanner(original_).scan();
    ASSERT_EQ(layout_.tensors.size(), GgufFile::open(model_path(GetParam()))->tensors().size());
    ASSERT_EQ(layout_.data_offset, GgufFile::open(model_path(GetParam()))->data_offset());
  }

  // Writes `bytes` (or its first `size` bytes) as a new file and expects the reader to reject it.
  void expect_bad(const std::vector<uint8_t>& bytes, std::initializer_list<const char*> keywords,
                  const std::string& what, size_t size = SIZE_MAX) {
    const std::string path = dir_.file("case" + std::to_string(case_++) + ".gguf");
    write_file(path, bytes.data(), std::min(size, bytes.size()));
    expect_rejected(path, keywords, what);
  }
  std::vector<uint8_t> copy() const { return original_; }

  TempDir dir_;
  std::vector<uint8_t> original_;
  Layout layout_;
  int case_ = 0;
};

TEST_P(GgufCorrupt, TruncatedAnywhere) {
  const Layout& l = layout_;
  const auto& tokens = l.entry("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.element_starts.size(), 512u);
  const auto& scores = l.entry("tokenizer.ggml.scores");
  const Layout::Tensor& t0 = l.tensors.front();
  const Layout::Tensor& t5 = l.tensors[5];
  const Layout::Tensor& last = l.tensors.back();
  struct Cut {
    uint64_t at;
    const char* where;
  };
  const Cut cuts[] = {
      {0, "empty"},
      {2, "inside the magic"},
      {6, "inside the version"},
      {12, "inside the tensor count"},
      {20, "inside the metadata count"},
      {24, "right after the header"},
      {28, "inside the first key's length"},
      {l.entries[0].start + 8 + 5, "inside the first key"},
      {l.entries[0].value_at + 3, "inside a string value's length"},
      {l.entries[1].value_at + 8 + 4, "inside the general.name string"},
      {tokens.value_at + 6, "inside the token array's length"},
      {tokens.element_starts[1] + 9, "inside the second token"},
      {tokens.element_starts[300], "between two tokens"},
      {tokens.element_starts[511] + 4, "inside the last token's length"},
      {scores.value_at + 12 + 4 * 100 + 2, "inside the scores array"},
      {l.entries.back().value_at + 1, "inside the last metadata value"},
      {l.infos_start + 3, "inside the first tensor name's length"},
      {t0.start + 10, "inside the first tensor name"},
      {t0.ndims_at + 2, "inside n_dims"},
      {t0.dims_at + 9, "inside the second dim"},
      {t5.type_at + 1, "inside a tensor type"},
      {t5.offset_at + 7, "inside a tensor offset"},
      {last.offset_at + 4, "inside the last tensor offset"},
      {l.infos_end, "right after the tensor infos"},
      {l.data_offset - 1, "inside the alignment padding"},
      {l.data_offset, "at the start of tensor data"},
      {l.data_offset + 1000, "inside the first tensor's data"},
      {l.data_offset + last.offset + 5, "inside the last tensor's data"},
      {original_.size() - 1, "one byte short"},
  };
  for (const Cut& cut : cuts) {
    ASSERT_LT(cut.at, original_.size());
    // Cuts before the tensor data may first trip a count check ("... does not fit in the file").
    if (cut.at < l.infos_end)
      expect_bad(original_, {"truncated", "does not fit"}, std::string("truncated ") + cut.where, cut.at);
    else
      expect_bad(original_, {"past the end"}, std::string("truncated ") + cut.where, cut.at);
  }
}

TEST_P(GgufCorrupt, HeaderFields) {
  auto bytes = copy();
  bytes[0] = 'X';
  expect_bad(bytes, {"bad magic"}, "bad magic");
  bytes = copy();
  std::memcpy(bytes.data(), "GGML", 4);
  expect_bad(bytes, {"bad magic"}, "GGML magic");

  bytes = copy();
  put<uint32_t>(bytes, 4, 1);
  expect_bad(bytes, {"version 1"}, "version 1");
  put<uint32_t>(bytes, 4, 99);
  expect_bad(bytes, {"version 99"}, "version 99");
  put<uint32_t>(bytes, 4, 0);
  expect_bad(bytes, {"version 0"}, "version 0");
  put<uint32_t>(bytes, 4, 0x03000000);  // a big-endian file
  expect_bad(bytes, {"big-endian"}, "big-endian version");

  for (uint64_t huge : {uint64_t{1} << 20, uint64_t{1} << 40, ~uint64_t{0}}) {
    bytes = copy();
    put<uint64_t>(bytes, 16, huge);
    expect_bad(bytes, {"metadata count", "does not fit"}, "huge metadata count");
    bytes = copy();
    put<uint64_t>(bytes, 8, huge);
    expect_bad(bytes, {"tensor count", "does not fit"}, "huge tensor count");
  }
  // Counts that fit in the file but are larger than what is there.
  bytes = copy();
  put<uint64_t>(bytes, 16, layout_.entries.size() + 1);
  expect_bad(bytes, {"truncated", "does not fit", "unknown value type", "duplicate"}, "one metadata entry too many");
  bytes = copy();
  put<uint64_t>(bytes, 8, layout_.tensors.size() + 1);
  expect_bad(bytes, {"truncated", "past the end", "dimensions", "unknown type", "impossible", "not aligned"},
             "one tensor too many");
}

TEST_P(GgufCorrupt, MetadataFields) {
  const Layout& l = layout_;
  auto bytes = copy();
  // Huge lengths.
  put<uint64_t>(bytes, l.entries[0].start, uint64_t{1} << 60);
  expect_bad(bytes, {"truncated while reading metadata key"}, "huge key length");
  bytes = copy();
  put<uint64_t>(bytes, l.entries[0].value_at, ~uint64_t{0});
  expect_bad(bytes, {"truncated while reading string value"}, "huge string length");
  bytes = copy();
  const auto& tokens = l.entry("tokenizer.ggml.tokens");
  put<uint64_t>(bytes, tokens.element_starts[7], uint64_t{1} << 62);
  expect_bad(bytes, {"truncated while reading array string"}, "huge token length");
  for (uint64_t huge : {uint64_t{1} << 40, ~uint64_t{0}, uint64_t{original_.size()}}) {
    bytes = copy();
    put<uint64_t>(bytes, tokens.value_at + 4, huge);
    expect_bad(bytes, {"does not fit"}, "huge array length");
  }
  bytes = copy();
  const auto& token_type = l.entry("tokenizer.ggml.token_type");
  put<uint64_t>(bytes, token_type.value_at + 4, original_.size() / 8);  // fits, but runs into the tensor infos
  expect_bad(bytes, {"truncated", "does not fit", "unknown", "duplicate", "dimensions", "past the end", "impossible",
                     "not aligned", "block size", "too large", "nested", "bool"},
             "array length running over the following data");

  // Types.
  bytes = copy();
  put<uint32_t>(bytes, l.entries[0].type_at, 13);
  expect_bad(bytes, {"unknown value type 13"}, "unknown value type");
  put<uint32_t>(bytes, l.entries[0].type_at, 0xFFFFFFFF);
  expect_bad(bytes, {"unknown value type"}, "unknown value type 2^32-1");
  bytes = copy();
  put<uint32_t>(bytes, tokens.value_at, 77);
  expect_bad(bytes, {"unknown array element type 77"}, "unknown element type");

  // A bool that is not 0 or 1.
  bytes = copy();
  const auto& add_bos = l.entry("tokenizer.ggml.add_bos_token");
  ASSERT_EQ(add_bos.type, 7u);
  bytes[add_bos.value_at] = 2;
  expect_bad(bytes, {"neither 0 nor 1"}, "bool 2");
  bytes[add_bos.value_at] = 0xFF;
  expect_bad(bytes, {"neither 0 nor 1"}, "bool 255");

  // Duplicate key: "tokenizer.ggml.eos_token_id" -> "tokenizer.ggml.bos_token_id".
  bytes = copy();
  const auto& eos = l.entry("tokenizer.ggml.eos_token_id");
  bytes[eos.start + 8 + std::string("tokenizer.ggml.").size()] = 'b';
  expect_bad(bytes, {"duplicate metadata key 'tokenizer.ggml.bos_token_id'"}, "duplicate key");

  // general.alignment: "llama.block_count" (uint32, same length) renamed.
  const auto& block_count = l.entry("llama.block_count");
  ASSERT_EQ(block_count.key.size(), std::string("general.alignment").size());
  ASSERT_EQ(block_count.type, 4u);
  for (uint32_t alignment : {0u, 3u, 48u, 0x80000001u}) {
    bytes = copy();
    std::memcpy(bytes.data() + block_count.start + 8, "general.alignment", 17);
    put<uint32_t>(bytes, block_count.value_at, alignment);
    expect_bad(bytes, {"not a power of two"}, "alignment " + std::to_string(alignment));
  }
  bytes = copy();
  std::memcpy(bytes.data() + block_count.start + 8, "general.alignment", 17);
  put<uint32_t>(bytes, block_count.type_at, 5);  // int32
  expect_bad(bytes, {"general.alignment must be uint32"}, "int32 alignment");
  // 32 is the default: the file is still good. 64 misaligns some tensor offsets.
  bytes = copy();
  std::memcpy(bytes.data() + block_count.start + 8, "general.alignment", 17);
  put<uint32_t>(bytes, block_count.value_at, 32);
  write_file(dir_.file("align32.gguf"), bytes);
  EXPECT_EQ(GgufFile::open(dir_.file("align32.gguf"))->alignment(), 32u);
  put<uint32_t>(bytes, block_count.value_at, 1u << 20);
  expect_bad(bytes, {"not aligned"}, "alignment 2^20");
}

TEST_P(GgufCorrupt, TensorInfoFields) {
  const Layout& l = layout_;
  const Layout::Tensor& t = l.tensor("token_embd.weight");
  ASSERT_EQ(t.dims.size(), 2u);

  auto bytes = copy();
  put<uint32_t>(bytes, t.ndims_at, 0);
  expect_bad(bytes, {"0 dimensions"}, "n_dims 0");
  put<uint32_t>(bytes, t.ndims_at, 5);
  expect_bad(bytes, {"5 dimensions"}, "n_dims 5");
  put<uint32_t>(bytes, t.ndims_at, 0xFFFFFFFF);
  expect_bad(bytes, {"dimensions"}, "n_dims 2^32-1");

  bytes = copy();
  put<uint64_t>(bytes, t.dims_at, 0);
  expect_bad(bytes, {"impossible dimension 0"}, "dim 0");
  bytes = copy();
  put<uint64_t>(bytes, t.dims_at, uint64_t{1} << 40);
  put<uint64_t>(bytes, t.dims_at + 8, uint64_t{1} << 40);
  expect_bad(bytes, {"impossible dimension"}, "dims overflowing the element count");
  bytes = copy();
  put<uint64_t>(bytes, t.dims_at + 8, ~uint64_t{0});
  expect_bad(bytes, {"impossible dimension"}, "dim 2^64-1");
  bytes = copy();  // the element count fits in 63 bits, the byte size does not fit in the file
  put<uint64_t>(bytes, t.dims_at + 8, uint64_t{1} << 50);
  expect_bad(bytes, {"past the end", "too large"}, "dim 2^50");

  bytes = copy();
  put<uint32_t>(bytes, t.type_at, 4);  // ggml's removed Q4_2
  expect_bad(bytes, {"unknown type id 4"}, "type 4");
  put<uint32_t>(bytes, t.type_at, 1000);
  expect_bad(bytes, {"unknown type id 1000"}, "type 1000");
  // The jisu sparse types of layout versions 1 (interleaved blocks) and 2 (unbiased values) are
  // named, not misread.
  for (uint32_t retired : {0x4A530001u, 0x4A530013u, 0x4A534D10u}) {
    put<uint32_t>(bytes, t.type_at, retired);
    expect_bad(bytes, {"older jisu (version 1)", "prune the original model again"}, "retired sparse type");
  }
  for (uint32_t retired : {0x4A530101u, 0x4A530113u, 0x4A530140u, 0x4A534D20u}) {
    put<uint32_t>(bytes, t.type_at, retired);
    expect_bad(bytes, {"older jisu (version 2)", "prune the original model again"}, "retired sparse type v2");
  }

  bytes = copy();  // rows of 100 elements cannot be q4_K (256 per block)
  put<uint64_t>(bytes, t.dims_at, 100);
  put<uint32_t>(bytes, t.type_at, static_cast<uint32_t>(DType::Q4_K));
  expect_bad(bytes, {"not a multiple of its block size"}, "row length 100 for q4_K");
  bytes = copy();
  put<uint64_t>(bytes, t.dims_at, 48);
  put<uint32_t>(bytes, t.type_at, static_cast<uint32_t>(DType::Q8_0));
  expect_bad(bytes, {"not a multiple of its block size"}, "row length 48 for q8_0");

  bytes = copy();
  put<uint64_t>(bytes, t.offset_at, t.offset + 1);
  expect_bad(bytes, {"not aligned"}, "unaligned offset");
  put<uint64_t>(bytes, t.offset_at, t.offset + 16);
  expect_bad(bytes, {"not aligned"}, "offset aligned to 16 only");
  for (uint64_t offset : {uint64_t{original_.size()} / 32 * 32, uint64_t{1} << 40, ~uint64_t{31}}) {
    bytes = copy();
    put<uint64_t>(bytes, t.offset_at, offset);
    expect_bad(bytes, {"past the end"}, "offset past EOF: " + std::to_string(offset));
  }
  bytes = copy();  // the last tensor moved to the first aligned offset past the end of the file
  const Layout::Tensor& last = l.tensors.back();
  const uint64_t last_start = l.data_offset + last.offset;
  put<uint64_t>(bytes, last.offset_at, last.offset + (original_.size() - last_start) / 32 * 32 + 32);
  expect_bad(bytes, {"past the end"}, "last tensor starting past EOF");
  bytes = copy();  // ... and moved so that it starts inside the file but ends past it
  put<uint64_t>(bytes, last.offset_at, (original_.size() - l.data_offset - 64) / 32 * 32);
  expect_bad(bytes, {"past the end"}, "last tensor ending past EOF");

  // Duplicate tensor name: blk.0.attn_q.weight -> blk.0.attn_k.weight.
  bytes = copy();
  const Layout::Tensor& q = l.tensor("blk.0.attn_q.weight");
  bytes[q.start + 8 + std::string("blk.0.attn_").size()] = 'k';
  expect_bad(bytes, {"duplicate tensor 'blk.0.attn_k.weight'"}, "duplicate tensor name");
  // ... with a newline in the name: the message stays on one line.
  const Layout::Tensor& k = l.tensor("blk.0.attn_k.weight");
  bytes[k.start + 8 + std::string("blk.0.attn_").size()] = '\n';
  bytes[q.start + 8 + std::string("blk.0.attn_").size()] = '\n';
  expect_bad(bytes, {"duplicate tensor 'blk.0.attn_\\x0a.weight'"}, "duplicate tensor name with a newline");
  // A 60000-byte tensor name in an error message is cut short.
  {
    std::vector<uint8_t> long_name(original_.begin(), original_.begin() + static_cast<std::ptrdiff_t>(t.start));
    const std::string name(60000, 'n');
    long_name.resize(long_name.size() + 8);
    put<uint64_t>(long_name, t.start, name.size());
    long_name.insert(long_name.end(), name.begin(), name.end());
    long_name.insert(long_name.end(), original_.begin() + static_cast<std::ptrdiff_t>(t.ndims_at),
                     original_.begin() + static_cast<std::ptrdiff_t>(t.ndims_at + 4));
    put<uint32_t>(long_name, long_name.size() - 4, 7);  // 7 dimensions
    const std::string path = dir_.file("long-name.gguf");
    write_file(path, long_name);
    try {
      GgufFile::open(path);
      ADD_FAILURE() << "opened a tensor with 7 dimensions";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("7 dimensions"), std::string::npos) << error.what();
      EXPECT_LT(std::string(error.what()).size(), 1000u);
    }
  }

  bytes = copy();
  put<uint64_t>(bytes, t.start, uint64_t{1} << 59);
  expect_bad(bytes, {"truncated while reading tensor name"}, "huge tensor name length");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufCorrupt,
                         ::testing::Values("tiny-llama-s1.q4_k_m.gguf", "tiny-llama-s1.f32.gguf"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

// ---------------------------------------------------------------------------------------------
// Random mutations of the header region: open must succeed or throw jisu::Error, nothing else.
// Bounded by time (JISU_FUZZ_SECONDS, default 3) and a case cap; the seed is fixed unless
// JISU_FUZZ_SEED is set, and printed with any failure.

TEST(GgufFuzz, RandomHeaderMutationsOpenOrThrowJisuError) {
  double seconds = 3.0;
  if (const char* env = std::getenv("JISU_FUZZ_SECONDS"); env && *env) seconds = std::atof(env);
  uint64_t seed = 0x6a697375;  // "jisu"
  if (const char* env = std::getenv("JISU_FUZZ_SEED"); env && *env) seed = std::strtoull(env, nullptr, 0);
  std::mt19937_64 rng(seed);

  struct Target {
    std::string name;
    std::vector<uint8_t> bytes;
    uint64_t region;  // mutated prefix: the header, metadata and tensor infos (at most 64 KiB)
    std::string path;
    int fd = -1;
  };
  TempDir dir;
  std::vector<Target> targets;
  for (const std::string& path : {model_path("tiny-llama-s1.q4_k_m.gguf"), model_path("tiny-moe-s1.f32.gguf"),
                                  test::fixtures_dir() + "/tokenizers/ggml-vocab-phi-3.gguf"}) {
    Target target;
    target.name = fs::path(path).filename().string();
    target.bytes = read_file(path);
    target.region = std::min<uint64_t>(GgufFile::open(path)->data_offset(), 64 * 1024);
    target.region = std::min<uint64_t>(target.region, target.bytes.size());
    target.path = dir.file("full-" + target.name);
    write_file(target.path, target.bytes);
    target.fd = ::open(target.path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(target.fd, 0);
    targets.push_back(std::move(target));
  }
  const std::string prefix_path = dir.file("prefix.gguf");

  auto pick = [&](uint64_t n) { return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  const uint64_t interesting[] = {0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 33, 64, 255, 256, 0x7f, 0x80, 0xff,
                                  0xffff, 0x7fffffff, 0x80000000, 0xffffffff, uint64_t{1} << 32, uint64_t{1} << 62,
                                  uint64_t{1} << 63, ~uint64_t{0}, ~uint64_t{0} - 1};

  uint64_t cases = 0, opened = 0, rejected = 0;
  const auto start = std::chrono::steady_clock::now();
  std::vector<uint8_t> mutated;
  while (cases < 1000000) {
    if ((cases & 63) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= seconds)
      break;
    Target& target = targets[pick(targets.size())];
    const uint64_t region = target.region;
    mutated.assign(target.bytes.begin(), target.bytes.begin() + static_cast<std::ptrdiff_t>(region));
    const int mode = static_cast<int>(pick(6));
    std::string what;
    bool prefix_only = false;  // write just `mutated` (a truncated / resized file) instead of patching in place
    switch (mode) {
      case 0: {  // flip random bits
        const uint64_t flips = 1 + pick(8);
        for (uint64_t i = 0; i < flips; ++i) mutated[pick(region)] ^= static_cast<uint8_t>(1u << pick(8));
        what = "bit flips";
        break;
      }
      case 1: {  // random bytes
        const uint64_t n = 1 + pick(4);
        for (uint64_t i = 0; i < n; ++i) mutated[pick(region)] = static_cast<uint8_t>(pick(256));
        what = "random bytes";
        break;
      }
      case 2: {  // an interesting 32- or 64-bit value at a random offset
        const uint64_t value = interesting[pick(std::size(interesting))];
        const size_t width = pick(2) ? 8 : 4;
        if (region > width) std::memcpy(mutated.data() + pick(region - width + 1), &value, width);
        what = "interesting value";
        break;
      }
      case 3: {  // splice: copy a chunk of the header over another place
        const uint64_t length = 1 + pick(64);
        if (region > length) {
          const uint64_t from = pick(region - length), to = pick(region - length);
          std::memmove(mutated.data() + to, mutated.data() + from, length);
        }
        what = "splice";
        break;
      }
      case 4: {  // truncate somewhere in the header (or a little into the data)
        const uint64_t length = pick(std::min<uint64_t>(target.bytes.size(), region + 4096));
        mutated.assign(target.bytes.begin(), target.bytes.begin() + static_cast<std::ptrdiff_t>(length));
        prefix_only = true;
        what = "truncate to " + std::to_string(length);
        break;
      }
      default: {  // insert or delete a chunk, then truncate (shifts everything after it)
        const uint64_t at = pick(region), length = 1 + pick(32);
        if (pick(2)) {
          std::vector<uint8_t> chunk(length);
          for (auto& b : chunk) b = static_cast<uint8_t>(pick(256));
          mutated.insert(mutated.begin() + static_cast<std::ptrdiff_t>(at), chunk.begin(), chunk.end());
        } else {
          mutated.erase(mutated.begin() + static_cast<std::ptrdiff_t>(at),
                        mutated.begin() + static_cast<std::ptrdiff_t>(std::min<uint64_t>(region, at + length)));
        }
        prefix_only = true;
        what = "insert/delete";
        break;
      }
    }
    std::string path = target.path;
    if (prefix_only) {
      write_file(prefix_path, mutated);
      path = prefix_path;
    } else {
      ASSERT_EQ(::pwrite(target.fd, mutated.data(), region, 0), static_cast<ssize_t>(region));
    }
    ++cases;
    try {
      auto file = GgufFile::open(path);
      ++opened;
      // Whatever was accepted must be self-consistent.
      for (const TensorInfo& tensor : file->tensors())
        ASSERT_LE(file->data_offset() + tensor.offset + tensor.byte_size, file->file_size())
            << "case " << cases << " (" << what << ") of " << target.name << ", seed " << seed;
      for (const auto& [key, value] : file->metadata()) (void)value.array_size();
    } catch (const Error& error) {
      ++rejected;
      const std::string message = error.what();
      ASSERT_EQ(message.find('\n'), std::string::npos) << "case " << cases << " (" << what << "), seed " << seed
                                                        << ": the message is not one line: " << message;
      ASSERT_LT(message.size(), 2000u) << message;
    } catch (const std::exception& error) {
      FAIL() << "case " << cases << " (" << what << ") of " << target.name << ", seed " << seed
             << ": not a jisu::Error: " << error.what();
    }
    if (!prefix_only) {
      ASSERT_EQ(::pwrite(target.fd, target.bytes.data(), region, 0), static_cast<ssize_t>(region));
    }
  }
  for (Target& target : targets) ::close(target.fd);
  std::printf("[ fuzz     ] %llu cases in %.1f s (seed %llu): %llu opened, %llu rejected with jisu::Error\n",
              static_cast<unsigned long long>(cases),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(opened),
              static_cast<unsigned long long>(rejected));
  RecordProperty("fuzz_cases", static_cast<int>(cases));
  EXPECT_EQ(opened + rejected, cases);
  EXPECT_GE(cases, 1000u);
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace jisu::gguf
