#pragma once
// A read-only memory map of a whole file. Model weights are used in place from the map; the
// page cache, not the heap, holds them.
#include <cstddef>
#include <cstdint>
#include <string>

namespace jisu {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws jisu::Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the whole pages of [data, data + bytes) from memory. Only for bytes inside a MappedFile
// (a read-only private file mapping): they fault back in from the file if read again. On heap or
// anonymous memory this would zero the data, so callers check WeightMatrix::in_file_mapping.
void release_mapped_pages(const void* data, size_t bytes);

}  // namespace jisu
