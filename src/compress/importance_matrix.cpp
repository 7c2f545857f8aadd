#include "compress/importance_matrix.h"

#include "core/error.h"
#include "format/gguf_file.h"
#include "format/gguf_writer.h"

namespace jisu::compress {
namespace {

constexpr std::string_view kSumSuffix = ".in_sum2", kCountSuffix = ".counts";

bool strip_suffix(std::string& name, std::string_view suffix) {
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  name.resize(name.size() - suffix.size());
  return true;
}

const float* f32_data(const gguf::TensorInfo& tensor, const std::string& path) {
  if (tensor.type != DType::F32) throw Error("'" + path + "': imatrix tensor " + tensor.name + " is not F32");
  return reinterpret_cast<const float*>(tensor.data);
}

}  // namespace

ImportanceMatrix ImportanceMatrix::read(const std::string& path) {
  const auto file = gguf::GgufFile::open(path);
  const auto type = file->get_string("general.type");
  if (!type || *type != "imatrix")
    throw Error("'" + path + "' is not an importance matrix (general.type is not \"imatrix\")",
                "make one with `jisu imatrix -m MODEL -f TEXT -o FILE`");
  ImportanceMatrix matrix;
  if (const auto* datasets = file->get_string_array("imatrix.datasets")) matrix.datasets = *datasets;
  matrix.chunk_count = static_cast<uint32_t>(file->get_int("imatrix.chunk_count").value_or(0));
  matrix.chunk_size = static_cast<uint32_t>(file->get_int("imatrix.chunk_size").value_or(0));
  for (const gguf::TensorInfo& tensor : file->tensors()) {
    std::string name = tensor.name;
    if (!strip_suffix(name, kSumSuffix)) continue;
    const gguf::TensorInfo* counts = file->find_tensor(name + std::string(kCountSuffix));
    if (!counts) throw Error("'" + path + "': " + tensor.name + " has no " + name + std::string(kCountSuffix));
    ImportanceEntry entry;
    entry.cols = tensor.shape[0];
    entry.n_mat = tensor.element_count / entry.cols;
    if (counts->element_count != entry.n_mat)
      throw Error("'" + path + "': " + counts->name + " has " + std::to_string(counts->element_count) +
                  " values for " + std::to_string(entry.n_mat) + " matrices");
    const float* sums = f32_data(tensor, path);
    const float* count_values = f32_data(*counts, path);
    entry.sum2.assign(sums, sums + tensor.element_count);
    entry.counts.assign(count_values, count_values + entry.n_mat);
    matrix.entries.emplace(name, std::move(entry));
  }
  if (matrix.entries.empty()) throw Error("'" + path + "' holds no importance entries");
  return matrix;
}

void ImportanceMatrix::write(const std::string& path) const {
  gguf::GgufWriter writer;
  writer.set_string("general.type", "imatrix");
  writer.set_string_array("imatrix.datasets", datasets);
  writer.set_uint32("imatrix.chunk_count", chunk_count);
  writer.set_uint32("imatrix.chunk_size", chunk_size);
  // The writer reads tensor data at write(): keep float copies alive until then.
  std::vector<std::vector<float>> storage;
  storage.reserve(2 * entries.size());
  for (const auto& [name, entry] : entries) {
    storage.emplace_back(entry.sum2.begin(), entry.sum2.end());
    writer.add_tensor(name + std::string(kSumSuffix), DType::F32, {entry.cols, entry.n_mat}, storage.back().data());
    storage.emplace_back(entry.counts.begin(), entry.counts.end());
    writer.add_tensor(name + std::string(kCountSuffix), DType::F32, {1, entry.n_mat}, storage.back().data());
  }
  writer.write(path);
}

const ImportanceEntry* ImportanceMatrix::find(std::string_view weight_name) const {
  const auto it = entries.find(weight_name);
  return it == entries.end() ? nullptr : &it->second;
}

std::vector<float> ImportanceMatrix::mean_squares(std::string_view weight_name, const ImportanceEntry& entry,
                                                  size_t slice, size_t cols) const {
  if (entry.cols != cols || slice >= entry.n_mat)
    throw Error("the importance matrix's " + std::string(weight_name) + " has " + std::to_string(entry.n_mat) + " x " +
                    std::to_string(entry.cols) + " values, the model's tensor " + std::to_string(cols) + " columns",
                "the imatrix was made from another model");
  std::vector<float> means(cols);
  const double count = entry.counts[slice];
  for (size_t c = 0; c < cols; ++c)
    means[c] = count > 0 ? static_cast<float>(entry.sum2[slice * cols + c] / count) : 1.0f;
  return means;
}

void ImportanceCollector::observe(std::string_view weight_name, int64_t slice, const float* x, size_t stride,
                                  size_t n_rows, size_t cols) {
  auto it = matrix_.entries.find(weight_name);
  if (it == matrix_.entries.end()) it = matrix_.entries.emplace(std::string(weight_name), ImportanceEntry{}).first;
  ImportanceEntry& entry = it->second;
  const auto mat = static_cast<size_t>(slice);
  if (entry.sum2.empty() || mat >= entry.n_mat) {
    entry.cols = cols;
    entry.n_mat = std::max(entry.n_mat, mat + 1);
    entry.sum2.resize(entry.n_mat * cols, 0.0);
    entry.counts.resize(entry.n_mat, 0.0);
  }
  double* sums = entry.sum2.data() + mat * cols;
  for (size_t r = 0; r < n_rows; ++r) {
    const float* row = x + r * stride;
    for (size_t c = 0; c < cols; ++c) sums[c] += static_cast<double>(row[c]) * row[c];
  }
  entry.counts[mat] += static_cast<double>(n_rows);
}

}  // namespace jisu::compress
