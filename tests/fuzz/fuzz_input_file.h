#pragma once
// The fuzz input as a file: jisu's loaders take paths (and map GGUF files), so each input is
// written to an anonymous in-memory file reached through /proc/self/fd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace jisu::fuzz {

class FuzzInputFile {
 public:
  FuzzInputFile(const uint8_t* data, size_t size) : fd_(memfd_create("jisu-fuzz", 0)) {
    size_t written = 0;
    while (fd_ >= 0 && written < size) {
      const ssize_t n = ::write(fd_, data + written, size - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
  }
  ~FuzzInputFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  FuzzInputFile(const FuzzInputFile&) = delete;
  FuzzInputFile& operator=(const FuzzInputFile&) = delete;

  bool ok() const { return fd_ >= 0; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

}  // namespace jisu::fuzz
