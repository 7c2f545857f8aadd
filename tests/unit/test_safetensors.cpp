// The safetensors reader on valid files and on each kind of damage a download or an attacker
// can give it: every one must be a jisu::Error whose message names the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "format/safetensors_file.h"
#include "temp_dir.h"

namespace jisu::test {
namespace {

using json = nlohmann::json;

std::string file_bytes(const std::string& header, const std::string& data, uint64_t header_length) {
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &header_length, 8);
  return bytes + header + data;
}

// A valid header padded to 8 bytes, as Hugging Face's writer does.
std::string file_bytes(const json& header, const std::string& data) {
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return file_bytes(text, data, text.size());
}

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    std::string name = std::to_string(count_++);
    name += ".safetensors";
    const std::string path = dir_.file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // The error message of opening `bytes`, or "" when it opens.
  std::string error_of(const std::string& bytes) {
    try {
      safetensors::SafetensorsFile::open(write(bytes));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  static json two_tensors() {
    return {{"__metadata__", {{"format", "pt"}}},
            {"a", {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {0, 24}}}},
            {"b", {{"dtype", "BF16"}, {"shape", {4}}, {"data_offsets", {24, 32}}}}};
  }

  TempDir dir_;
  int count_ = 0;
};

TEST_F(SafetensorsTest, ReadsTensorsInPlace) {
  std::string data(32, '\0');
  const float one = 1.0f;
  std::memcpy(data.data() + 4, &one, 4);
  const auto file = safetensors::SafetensorsFile::open(write(file_bytes(two_tensors(), data)));
  ASSERT_EQ(file->tensors().size(), 2u);
  const safetensors::Tensor* a = file->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->type, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(a->element_count, 6u);
  EXPECT_EQ(a->byte_size, 24u);
  float second;
  std::memcpy(&second, a->data + 4, 4);
  EXPECT_EQ(second, 1.0f);
  EXPECT_EQ(file->find("b")->type, DType::BF16);
  EXPECT_EQ(file->find("b")->data, a->data + 24);
  EXPECT_EQ(file->find("__metadata__"), nullptr);
}

TEST_F(SafetensorsTest, RefusesBrokenHeaders) {
  EXPECT_NE(error_of("abc").find("too short"), std::string::npos);
  EXPECT_NE(error_of(file_bytes("{}", "", 1000)).find("past the end of the file"), std::string::npos);
  EXPECT_NE(error_of(file_bytes("{\"a\": [1,", "", 9)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(file_bytes(std::string(5000, '['), "", 5000)).find("nested deeper"), std::string::npos);
  EXPECT_NE(error_of(file_bytes("[1, 2, 3]", "", 9)).find("not a JSON object"), std::string::npos);
  json header = two_tensors();
  header["a"].erase("dtype");
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("no dtype"), std::string::npos);
  header = two_tensors();
  header["a"]["shape"] = {2, -3};
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("not a non-negative integer"), std::string::npos);
  header = two_tensors();
  header["a"]["data_offsets"] = {0};
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("data_offsets"), std::string::npos);
}

TEST_F(SafetensorsTest, RefusesDtypesItCannotLoad) {
  json header = two_tensors();
  header["a"]["dtype"] = "F7";
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("unknown dtype 'F7'"), std::string::npos);
  header["a"]["dtype"] = "I32";
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("dtype I32, which jisu does not load"), std::string::npos);
}

TEST_F(SafetensorsTest, RefusesSpansThatDoNotFit) {
  json header = two_tensors();
  header["a"]["shape"] = {2, 4};  // 32 bytes in a 24-byte span
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("needs 32 bytes but spans 24"), std::string::npos);
  header = two_tensors();
  header["a"]["shape"] = {uint64_t{1} << 62, 8};  // element count overflows
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("overflows"), std::string::npos);
  header = two_tensors();
  header["b"]["data_offsets"] = {24, 40};  // past the data
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("outside the data section"), std::string::npos);
  header["b"]["data_offsets"] = {30, 22};  // end before begin
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("outside the data section"), std::string::npos);
  header = two_tensors();
  header["b"]["data_offsets"] = {16, 24};  // inside a
  EXPECT_NE(error_of(file_bytes(header, std::string(32, '\0'))).find("overlap"), std::string::npos);
  header = two_tensors();
  header["b"]["data_offsets"] = {25, 33};  // a BF16 value on an odd address
  EXPECT_NE(error_of(file_bytes(header, std::string(34, '\0'))).find("not aligned"), std::string::npos);
  // Truncated: the header promises more data than the file has.
  EXPECT_NE(error_of(file_bytes(two_tensors(), std::string(20, '\0'))).find("outside the data section"), std::string::npos);
}

}  // namespace
}  // namespace jisu::test
