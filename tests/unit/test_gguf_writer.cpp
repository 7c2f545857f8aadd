// GgufWriter and AtomicFile: write -> read back with GgufFile -> identical metadata and bytes;
// fixtures re-written from their own metadata and tensors; validation errors; and the
// all-or-nothing guarantee (no output, no temporary left behind, an old file kept intact).
#include <stdlib.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "format/gguf_file.h"
#include "format/gguf_writer.h"
#include "temp_dir.h"
#include "test_support.h"

namespace jisu::gguf {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool same_number(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Structural equality of two metadata values, with a reason on mismatch.
::testing::AssertionResult same_value(const MetadataValue& a, const MetadataValue& b) {
  if (a.type != b.type)
    return ::testing::AssertionFailure() << "type " << value_type_name(a.type) << " vs " << value_type_name(b.type);
  if (a.is_array()) {
    if (a.element_type != b.element_type) return ::testing::AssertionFailure() << "element type differs";
    if (a.integers != b.integers) return ::testing::AssertionFailure() << "integers differ";
    if (a.strings != b.strings) return ::testing::AssertionFailure() << "strings differ";
    if (a.numbers.size() != b.numbers.size()) return ::testing::AssertionFailure() << "number count differs";
    for (size_t i = 0; i < a.numbers.size(); ++i)
      if (!same_number(a.numbers[i], b.numbers[i]))
        return ::testing::AssertionFailure() << "number " << i << ": " << a.numbers[i] << " vs " << b.numbers[i];
    if (a.arrays.size() != b.arrays.size()) return ::testing::AssertionFailure() << "nested count differs";
    for (size_t i = 0; i < a.arrays.size(); ++i) {
      auto result = same_value(a.arrays[i], b.arrays[i]);
      if (!result) return result << " (in nested array " << i << ")";
    }
    return ::testing::AssertionSuccess();
  }
  if (a.type == ValueType::STRING)
    return a.text == b.text ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "text differs";
  if (a.is_float())
    return same_number(a.number, b.number) ? ::testing::AssertionSuccess()
                                           : ::testing::AssertionFailure() << a.number << " vs " << b.number;
  return a.integer == b.integer ? ::testing::AssertionSuccess()
                                : ::testing::AssertionFailure() << a.integer << " vs " << b.integer;
}

void expect_same_metadata(const std::vector<std::pair<std::string, MetadataValue>>& written,
                          const std::vector<std::pair<std::string, MetadataValue>>& read) {
  ASSERT_EQ(written.size(), read.size());
  for (size_t i = 0; i < written.size(); ++i) {
    EXPECT_EQ(written[i].first, read[i].first);
    EXPECT_TRUE(same_value(written[i].second, read[i].second)) << written[i].first;
  }
}

std::vector<uint8_t> pattern_bytes(size_t size, uint32_t seed) {
  std::vector<uint8_t> bytes(size);
  uint32_t state = seed * 2654435761u + 1;
  for (auto& b : bytes) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(state >> 24);
  }
  return bytes;
}

// A writer with every kind of metadata value and several tensor types and shapes.
struct Sample {
  GgufWriter writer;
  std::vector<std::vector<uint8_t>> data;  // per tensor, in order
  std::vector<std::string> names;
};

void build_sample(Sample& sample) {
  GgufWriter& w = sample.writer;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", std::string("nul\0inside, \xc3\xa9t\xc3\xa9", 17));
  w.set_string("empty.string", "");
  w.set_uint8("u8", 255);
  w.set_int8("i8", -128);
  w.set_uint16("u16", 65535);
  w.set_int16("i16", -32768);
  w.set_uint32("u32", 4294967295u);
  w.set_int32("i32", std::numeric_limits<int32_t>::min());
  w.set_uint64("u64", std::numeric_limits<uint64_t>::max());
  w.set_int64("i64", std::numeric_limits<int64_t>::min());
  w.set_float32("f32", 1e-5f);
  w.set_float64("f64", 0.1);
  w.set_float32("f32.inf", std::numeric_limits<float>::infinity());
  w.set_float64("f64.nan", std::numeric_limits<double>::quiet_NaN());
  w.set_bool("bool.true", true);
  w.set_bool("bool.false", false);
  w.set_string_array("strings", {"<unk>", "", "hello world", std::string(1000, 'x')});
  w.set_int_array("ints.u8", ValueType::UINT8, {0, 1, 255});
  w.set_int_array("ints.i8", ValueType::INT8, {-128, 127});
  w.set_int_array("ints.u16", ValueType::UINT16, {65535});
  w.set_int_array("ints.i16", ValueType::INT16, {-1});
  w.set_int_array("ints.u32", ValueType::UINT32, {1, 2, 3});
  w.set_int_array("ints.i32", ValueType::INT32, {-5, 5, 2147483647});
  w.set_int_array("ints.u64", ValueType::UINT64, {-1, 0});
  w.set_int_array("ints.i64", ValueType::INT64, {std::numeric_limits<int64_t>::max()});
  w.set_int_array("bools", ValueType::BOOL, {1, 0, 1});
  w.set_int_array("ints.empty", ValueType::INT32, {});
  w.set_float_array("floats", {0.5, -2.25, 1e-3});
  w.set_float_array("doubles", {0.1, 1e300, -0.0}, ValueType::FLOAT64);
  w.set_string_array("strings.empty", {});
  w.set("nested", make_array_of_arrays({make_int_array(ValueType::INT32, {1, 2}), make_string_array({"a", "bc"}),
                                        make_array_of_arrays({make_float_array(ValueType::FLOAT32, {3.5})}),
                                        make_array_of_arrays({})}));
  MetadataValue deep = make_int_array(ValueType::UINT8, {42});
  for (int i = 1; i < 8; ++i) deep = make_array_of_arrays({deep});
  w.set("nested.deepest", deep);

  struct Spec {
    const char* name;
    DType type;
    std::vector<uint64_t> shape;
    bool callback;
  };
  const Spec specs[] = {
      {"token_embd.weight", DType::F32, {16, 10}, false},
      {"odd.f32", DType::F32, {3, 5, 7}, true},
      {"half", DType::F16, {5}, false},
      {"bf", DType::BF16, {7, 3}, true},
      {"q8", DType::Q8_0, {64, 3}, false},
      {"q4k", DType::Q4_K, {256, 2}, true},
      {"q6k", DType::Q6_K, {512}, false},
      {"iq4", DType::IQ4_NL, {32, 1, 1, 3}, true},
      {"ints", DType::I32, {1}, false},
      {"bytes", DType::I8, {1, 1, 1, 1}, true},
  };
  uint32_t seed = 1;
  for (const Spec& spec : specs) {
    const uint64_t size = tensor_byte_size(spec.type, spec.shape);
    sample.data.push_back(pattern_bytes(size, seed++));
    sample.names.push_back(spec.name);
    // The inner buffers keep their address when the outer vector grows (vectors move).
    const uint8_t* source = sample.data.back().data();
    if (spec.callback) {
      w.add_tensor(spec.name, spec.type, spec.shape, [source, size](uint8_t* out, size_t bytes) {
        ASSERT_EQ(bytes, size);
        for (size_t i = 0; i < bytes; ++i) ASSERT_EQ(out[i], 0) << "the fill buffer must start zeroed";
        std::memcpy(out, source, bytes);
      });
    } else {
      w.add_tensor(spec.name, spec.type, spec.shape, source);
    }
  }
}

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

// Reads `path` back and checks it holds exactly what `sample` describes, laid out as ggml does.
void expect_sample_file(const Sample& sample, const std::string& path, uint32_t version, uint64_t alignment) {
  auto file = GgufFile::open(path);
  EXPECT_EQ(file->version(), version);
  EXPECT_EQ(file->alignment(), alignment);
  expect_same_metadata(sample.writer.metadata(), file->metadata());
  ASSERT_EQ(file->tensors().size(), sample.data.size());
  EXPECT_EQ(file->data_offset() % alignment, 0u);
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < sample.data.size(); ++i) {
    const TensorInfo& tensor = file->tensors()[i];
    SCOPED_TRACE(tensor.name);
    EXPECT_EQ(tensor.name, sample.names[i]);
    EXPECT_EQ(tensor.offset, expected_offset);
    ASSERT_EQ(tensor.byte_size, sample.data[i].size());
    EXPECT_EQ(std::memcmp(tensor.data, sample.data[i].data(), tensor.byte_size), 0);
    expected_offset = align_up(expected_offset + tensor.byte_size, alignment);
  }
  EXPECT_EQ(file->file_size(), file->data_offset() + expected_offset);
  // Padding is zeros.
  const std::string bytes = slurp(path);
  for (size_t i = 0; i < sample.data.size(); ++i) {
    const TensorInfo& tensor = file->tensors()[i];
    const uint64_t end = file->data_offset() + tensor.offset + tensor.byte_size;
    const uint64_t next = file->data_offset() + align_up(tensor.offset + tensor.byte_size, alignment);
    for (uint64_t at = end; at < next; ++at) ASSERT_EQ(bytes[at], 0) << "padding byte " << at;
  }
}

TEST(GgufWriter, EveryValueTypeAndTensorRoundTrips) {
  TempDir dir;
  Sample sample;
  build_sample(sample);
  sample.writer.write(dir.file("sample.gguf"));
  expect_sample_file(sample, dir.file("sample.gguf"), 3, 32);

  auto file = GgufFile::open(dir.file("sample.gguf"));
  EXPECT_EQ(file->get_int("u8"), 255);
  EXPECT_EQ(file->get_int("i8"), -128);
  EXPECT_EQ(static_cast<uint64_t>(*file->get_int("u64")), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file->get_int("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(file->get_float("f32"), static_cast<double>(1e-5f));
  EXPECT_EQ(file->get_float("f64"), 0.1);
  EXPECT_TRUE(std::isinf(*file->get_float("f32.inf")));
  EXPECT_TRUE(std::isnan(*file->get_float("f64.nan")));
  EXPECT_EQ(file->get_bool("bool.true"), true);
  EXPECT_EQ(file->get_bool("bool.false"), false);
  EXPECT_EQ(file->get_string("general.name")->size(), 17u);
  EXPECT_EQ((*file->get_string_array("strings"))[3], std::string(1000, 'x'));
  EXPECT_EQ(*file->get_float_array("floats"), (std::vector<double>{0.5, -2.25, static_cast<float>(1e-3)}));
  EXPECT_EQ((*file->get_float_array("doubles"))[1], 1e300);
  EXPECT_EQ(*file->get_int_array("bools"), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_TRUE(file->get_int_array("ints.empty")->empty());
  const MetadataValue* nested = file->find("nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->arrays.size(), 4u);
  EXPECT_EQ(nested->arrays[1].strings, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(nested->arrays[2].arrays[0].numbers, std::vector<double>{3.5});
}

TEST(GgufWriter, RespectsGeneralAlignment) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    SCOPED_TRACE(alignment);
    TempDir dir;
    Sample sample;
    build_sample(sample);
    sample.writer.set_uint32("general.alignment", alignment);
    EXPECT_EQ(sample.writer.alignment(), alignment);
    sample.writer.write(dir.file("aligned.gguf"));
    expect_sample_file(sample, dir.file("aligned.gguf"), 3, alignment);
  }
}

TEST(GgufWriter, WritesVersion2) {
  TempDir dir;
  Sample sample;
  build_sample(sample);
  sample.writer.set_version(2);
  sample.writer.write(dir.file("v2.gguf"));
  expect_sample_file(sample, dir.file("v2.gguf"), 2, 32);
  // Same layout as v3: only the version field differs.
  sample.writer.set_version(3);
  sample.writer.write(dir.file("v3.gguf"));
  std::string v2 = slurp(dir.file("v2.gguf")), v3 = slurp(dir.file("v3.gguf"));
  ASSERT_EQ(v2.size(), v3.size());
  EXPECT_EQ(v2[4], 2);
  v2[4] = 3;
  EXPECT_TRUE(v2 == v3);
  EXPECT_THROW(sample.writer.set_version(1), Error);
  EXPECT_THROW(GgufWriter(4), Error);
}

TEST(GgufWriter, EmptyFileAndMetadataOnly) {
  TempDir dir;
  GgufWriter empty;
  empty.write(dir.file("empty.gguf"));
  auto file = GgufFile::open(dir.file("empty.gguf"));
  EXPECT_TRUE(file->metadata().empty());
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->file_size(), 32u);  // 24-byte header, padded

  GgufWriter vocab;
  vocab.set_string("tokenizer.ggml.model", "llama");
  vocab.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  vocab.write(dir.file("vocab.gguf"));
  EXPECT_EQ(GgufFile::open(dir.file("vocab.gguf"))->get_string_array("tokenizer.ggml.tokens")->size(), 2u);
}

// Re-writing a fixture from its own metadata and tensors reproduces it: same metadata, same
// tensor bytes, and, since the fixtures use ggml's layout, the same file byte for byte.
TEST(GgufWriter, RewritesFixturesIdentically) {
  const std::string fixtures = test::fixtures_dir();
  for (const std::string name : {"models/tiny-llama-s1.q4_k_m.gguf", "models/tiny-moe-s1.f32.gguf",
                                 "models/tiny-qwen2-s1.q8_0.gguf", "tokenizers/ggml-vocab-llama-spm.gguf"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    auto original = GgufFile::open(fixtures + "/" + name);
    GgufWriter writer(original->version());
    writer.copy_metadata(*original);
    for (const TensorInfo& tensor : original->tensors())
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
    const std::string out = dir.file("rewritten.gguf");
    writer.write(out);

    auto copy = GgufFile::open(out);
    expect_same_metadata(original->metadata(), copy->metadata());
    ASSERT_EQ(copy->tensors().size(), original->tensors().size());
    for (size_t i = 0; i < copy->tensors().size(); ++i) {
      const TensorInfo& a = original->tensors()[i];
      const TensorInfo& b = copy->tensors()[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.shape, b.shape);
      EXPECT_EQ(a.offset, b.offset);
      ASSERT_EQ(a.byte_size, b.byte_size);
      EXPECT_EQ(std::memcmp(a.data, b.data, a.byte_size), 0) << a.name;
    }
    if (!original->tensors().empty()) {
      EXPECT_TRUE(slurp(fixtures + "/" + name) == slurp(out)) << "not byte-identical";
    }
  }
}

// Rewriting a model in place, from tensors that point into its own memory map: the output
// goes to a temporary until the end, so the source stays intact while it is being read.
TEST(GgufWriter, RewritesAFileInPlace) {
  TempDir dir;
  const std::string path = dir.file("model.gguf");
  fs::copy_file(test::fixtures_dir() + "/models/tiny-llama-s1.q8_0.gguf", path);
  const std::string before = slurp(path);
  {
    auto source = GgufFile::open(path);
    GgufWriter writer;
    writer.copy_metadata(*source);
    writer.set_string("general.name", "rewritten");
    for (const TensorInfo& tensor : source->tensors())
      writer.add_tensor(tensor.name, tensor.type, tensor.shape, tensor.data);
    writer.write(path);
  }
  auto copy = GgufFile::open(path);
  EXPECT_EQ(copy->get_string("general.name"), "rewritten");
  const std::string after = slurp(path);
  const uint64_t data_before = GgufFile::open(test::fixtures_dir() + "/models/tiny-llama-s1.q8_0.gguf")->data_offset();
  ASSERT_EQ(after.size() - copy->data_offset(), before.size() - data_before);
  EXPECT_TRUE(after.compare(copy->data_offset(), std::string::npos, before, data_before) == 0);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});
}

TEST(GgufWriter, CallbackCanQuantizeFromAnotherTensor) {
  // The shape of what a quantizer will do: read a source tensor, fill the output in a callback.
  TempDir dir;
  auto source = GgufFile::open(test::fixtures_dir() + "/models/tiny-llama-s1.f32.gguf");
  const TensorInfo* norm = source->find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  GgufWriter writer;
  writer.copy_metadata(*source);
  writer.set_uint32("general.file_type", 1);
  writer.add_tensor(norm->name, DType::F16, norm->shape, [&](uint8_t* out, size_t bytes) {
    ASSERT_EQ(bytes, norm->element_count * 2);
    for (uint64_t i = 0; i < norm->element_count; ++i) {
      uint16_t half = 0x3c00;  // a stand-in conversion: every value becomes 1.0
      std::memcpy(out + 2 * i, &half, 2);
    }
  });
  writer.write(dir.file("half.gguf"));
  auto file = GgufFile::open(dir.file("half.gguf"));
  EXPECT_EQ(file->get_int("general.file_type"), 1);
  EXPECT_EQ(file->metadata().size(), source->metadata().size());
  ASSERT_EQ(file->tensors().size(), 1u);
  EXPECT_EQ(file->tensors()[0].type, DType::F16);
  uint16_t first = 0;
  std::memcpy(&first, file->tensors()[0].data, 2);
  EXPECT_EQ(first, 0x3c00);
}

TEST(GgufWriter, MetadataKeysKeepOrderAndReplaceInPlace) {
  GgufWriter writer;
  writer.set_uint32("a", 1);
  writer.set_uint32("b", 2);
  writer.set_string("c", "x");
  writer.set_string("a", "replaced");
  ASSERT_EQ(writer.metadata().size(), 3u);
  EXPECT_EQ(writer.metadata()[0].first, "a");
  EXPECT_EQ(writer.metadata()[0].second.text, "replaced");
  EXPECT_TRUE(writer.remove("b"));
  EXPECT_FALSE(writer.remove("b"));
  EXPECT_EQ(writer.find("b"), nullptr);
  ASSERT_NE(writer.find("c"), nullptr);
  EXPECT_EQ(writer.metadata()[1].first, "c");
}

TEST(GgufWriter, RejectsInvalidInput) {
  GgufWriter writer;
  // Metadata.
  EXPECT_THROW(writer.set_uint32("", 1), Error);
  EXPECT_THROW(writer.set(std::string(70000, 'k'), make_integer(ValueType::UINT8, 1)), Error);
  EXPECT_THROW(writer.set("x", make_integer(ValueType::UINT8, 256)), Error);
  EXPECT_THROW(writer.set("x", make_integer(ValueType::INT8, -129)), Error);
  EXPECT_THROW(writer.set("x", make_integer(ValueType::UINT32, -1)), Error);
  EXPECT_THROW(writer.set("x", make_integer(ValueType::BOOL, 2)), Error);
  EXPECT_THROW(writer.set("x", make_float(ValueType::FLOAT32, 1e300)), Error);
  EXPECT_THROW(writer.set_int_array("x", ValueType::UINT16, {70000}), Error);
  EXPECT_THROW(writer.set_int_array("x", ValueType::BOOL, {0, 3}), Error);
  EXPECT_THROW(writer.set_float_array("x", {1e39}), Error);
  EXPECT_THROW(make_integer(ValueType::STRING, 1), Error);
  EXPECT_THROW(make_float(ValueType::INT32, 1), Error);
  EXPECT_THROW(make_int_array(ValueType::FLOAT32, {}), Error);
  EXPECT_THROW(make_float_array(ValueType::UINT8, {}), Error);
  MetadataValue mixed = make_string_array({"a"});
  mixed.integers = {1};
  EXPECT_THROW(writer.set("x", mixed), Error);
  EXPECT_THROW(writer.set("x", make_array_of_arrays({make_string("not an array")})), Error);
  MetadataValue unknown;
  unknown.type = static_cast<ValueType>(13);
  EXPECT_THROW(writer.set("x", unknown), Error);
  MetadataValue too_deep = make_int_array(ValueType::UINT8, {1});
  for (int i = 1; i < 9; ++i) too_deep = make_array_of_arrays({too_deep});
  EXPECT_THROW(writer.set("x", too_deep), Error);
  EXPECT_THROW(writer.set_uint32("general.alignment", 0), Error);
  EXPECT_THROW(writer.set_uint32("general.alignment", 48), Error);
  EXPECT_THROW(writer.set_uint64("general.alignment", 64), Error);
  EXPECT_TRUE(writer.metadata().empty());

  // Tensors.
  const float data[4] = {};
  EXPECT_THROW(writer.add_tensor("", DType::F32, {4}, data), Error);
  EXPECT_THROW(writer.add_tensor(std::string(64, 'n'), DType::F32, {4}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {1, 1, 1, 1, 4}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {4, 0}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {uint64_t{1} << 40, uint64_t{1} << 40}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::Q4_K, {128}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::Q8_0, {48, 2}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", static_cast<DType>(4), {4}, data), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {4}, static_cast<const void*>(nullptr)), Error);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {4}, GgufWriter::TensorFiller{}), Error);
  EXPECT_EQ(writer.tensor_count(), 0u);
  writer.add_tensor(std::string(63, 'n'), DType::F32, {4}, data);
  writer.add_tensor("t", DType::F32, {4}, data);
  EXPECT_THROW(writer.add_tensor("t", DType::F32, {4}, data), Error);
  EXPECT_EQ(writer.tensor_count(), 2u);
  EXPECT_EQ(tensor_byte_size(DType::Q4_K, {512, 3}), 2u * 144 * 3);
}

// ---------------------------------------------------------------------------------------------
// All-or-nothing writes.

TEST(GgufWriter, FailedWriteLeavesNothingBehind) {
  TempDir dir;
  const std::string out = dir.file("model.gguf");
  const std::vector<float> data(64, 1.0f);
  auto make = [&](bool fail) {
    GgufWriter writer;
    writer.set_string("general.architecture", "llama");
    writer.add_tensor("a", DType::F32, {64}, data.data());
    writer.add_tensor("b", DType::F32, {64}, [fail](uint8_t*, size_t) {
      if (fail) throw std::runtime_error("quantization failed");
    });
    return writer;
  };
  // No file before: none after, and no temporary.
  EXPECT_THROW(make(true).write(out), std::runtime_error);
  EXPECT_TRUE(dir.entries().empty());

  // An existing file keeps its contents.
  {
    std::ofstream old(out);
    old << "old contents";
  }
  EXPECT_THROW(make(true).write(out), std::runtime_error);
  EXPECT_EQ(slurp(out), "old contents");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});

  // A successful write replaces it, with the usual permissions (not mkstemp's 0600).
  make(false).write(out);
  EXPECT_EQ(GgufFile::open(out)->tensors().size(), 2u);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.gguf"});
  const mode_t mask = ::umask(0);
  ::umask(mask);
  struct stat info {};
  ASSERT_EQ(::stat(out.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0666 & ~mask);

  // Re-writing a file that is open (memory-mapped) by the reader is safe: the reader keeps
  // the old inode.
  auto mapped = GgufFile::open(out);
  GgufWriter other;
  other.set_uint32("x", 1);
  other.write(out);
  EXPECT_EQ(mapped->tensors().size(), 2u);
  EXPECT_EQ(std::memcmp(mapped->tensors()[0].data, data.data(), 256), 0);
  EXPECT_TRUE(GgufFile::open(out)->tensors().empty());
}

TEST(GgufWriter, UnwritableDestinationIsAnError) {
  TempDir dir;
  GgufWriter writer;
  writer.set_uint32("x", 1);
  try {
    writer.write(dir.file("no/such/dir/model.gguf"));
    ADD_FAILURE() << "wrote into a missing directory";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("no/such/dir"), std::string::npos) << error.what();
  }
  fs::create_directory(dir.file("a_directory"));
  EXPECT_THROW(writer.write(dir.file("a_directory")), Error);
  EXPECT_THROW(writer.write(""), Error);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a_directory"});
  EXPECT_TRUE(fs::is_empty(dir.file("a_directory")));
}

TEST(GgufAtomicFile, CommitOrDiscard) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  {
    AtomicFile file(path);
    EXPECT_EQ(fs::path(file.temp_path()).parent_path(), fs::path(dir.path()));
    EXPECT_TRUE(fs::exists(file.temp_path()));
    file.write("abc", 3);
    EXPECT_FALSE(fs::exists(path));
  }  // never committed
  EXPECT_TRUE(dir.entries().empty());
  {
    AtomicFile file(path);
    file.write("abc", 3);
    file.write_zeros(2);
    const std::vector<uint8_t> big = pattern_bytes(3 << 20, 7);  // larger than the buffer
    file.write(big.data(), big.size());
    file.write("z", 1);
    EXPECT_EQ(file.bytes_written(), 6u + big.size());
    file.commit();
    EXPECT_TRUE(file.committed());
    EXPECT_THROW(file.write("x", 1), Error);
    const std::string written = slurp(path);
    ASSERT_EQ(written.size(), 6u + big.size());
    EXPECT_EQ(written.substr(0, 5), std::string("abc\0\0", 5));
    EXPECT_EQ(std::memcmp(written.data() + 5, big.data(), big.size()), 0);
    EXPECT_EQ(written.back(), 'z');
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.bin"});
  {
    AtomicFile file(path);
    file.write("new", 3);
    file.discard();
    EXPECT_FALSE(fs::exists(file.temp_path()));
  }
  EXPECT_EQ(slurp(path).size(), 6u + (3u << 20));
  EXPECT_THROW(AtomicFile(dir.file("missing/x")), Error);
}

}  // namespace
}  // namespace jisu::gguf
