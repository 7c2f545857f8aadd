#pragma once
// Write a file all-or-nothing: bytes go to a temporary file in the target's directory, and
// commit() flushes, fsyncs and renames it over the target. Until commit() succeeds the target
// is untouched (an existing file keeps its old contents); if commit() is never reached (an
// error, an exception from the caller) the destructor removes the temporary file, so no
// half-written output is ever left behind under either name.
//
//   AtomicFile out(path);          // creates "<dir>/.<name>.tmp.<pid>.<n>"
//   out.write(bytes, size); ...    // buffered; throws jisu::Error on I/O failure
//   out.commit();                  // fsync, rename over `path`, fsync the directory
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace jisu {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws jisu::Error if the temporary cannot be created
  ~AtomicFile();                          // discards the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write_zeros(size_t size);
  uint64_t bytes_written() const { return written_; }

  void commit();   // makes the file appear at path(); the object is closed afterwards
  void discard();  // removes the temporary now (also done by the destructor); never throws

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }

 private:
  void flush();
  void write_fd(const uint8_t* data, size_t size);
  [[noreturn]] void fail(const std::string& what, int error_number);

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
  std::vector<uint8_t> buffer_;
  size_t buffered_ = 0;
};

}  // namespace jisu
