#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace jisu {
namespace {

constexpr size_t kBufferSize = size_t{1} << 20;

std::atomic<uint64_t> temp_counter{0};

std::string directory_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw Error("cannot write a file with an empty name");
  const std::filesystem::path target(path_);
  if (!target.has_filename() || target.filename() == "." || target.filename() == "..")
    throw Error("cannot write '" + path_ + "': not a file name");
  struct stat info {};
  if (::stat(path_.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    throw Error("cannot write '" + path_ + "': it is a directory");

  // (Built with append: GCC 12 gives a false -Wrestrict warning for "." + std::string.)
  std::string name(".");
  name.append(target.filename().string()).append(".tmp.").append(std::to_string(::getpid())).append(".");
  const std::string base = (target.parent_path() / name).string();
  // O_EXCL on a fresh name: never clobbers anything; mode 0666 is reduced by the umask like any
  // ordinary output file.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string candidate = base + std::to_string(temp_counter.fetch_add(1));
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      fd_ = fd;
      temp_path_ = std::move(candidate);
      buffer_.resize(kBufferSize);
      return;
    }
    if (errno != EEXIST)
      throw Error("cannot create a file in '" + directory_of(path_) + "' (for '" + path_ + "'): " +
                  std::strerror(errno));
  }
  throw Error("cannot create a temporary file for '" + path_ + "'");
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
  buffered_ = 0;
}

void AtomicFile::fail(const std::string& what, int error_number) {
  const std::string message = "cannot write '" + path_ + "': " + what + ": " + std::strerror(error_number);
  discard();
  throw Error(message, error_number == ENOSPC ? "free some disk space and try again" : "");
}

void AtomicFile::write_fd(const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    if (n == 0) fail("write made no progress", EIO);
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::flush() {
  if (buffered_ == 0) return;
  const size_t size = buffered_;
  buffered_ = 0;
  write_fd(buffer_.data(), size);
}

void AtomicFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw Error("cannot write '" + path_ + "': the file is already closed");
  const auto* bytes = static_cast<const uint8_t*>(data);
  written_ += size;
  if (buffered_ + size <= buffer_.size()) {
    if (size > 0) std::memcpy(buffer_.data() + buffered_, bytes, size);
    buffered_ += size;
    return;
  }
  flush();
  if (size >= buffer_.size()) {
    write_fd(bytes, size);  // large blocks (tensor data) go straight through
  } else {
    std::memcpy(buffer_.data(), bytes, size);
    buffered_ = size;
  }
}

void AtomicFile::write_zeros(size_t size) {
  static constexpr uint8_t zeros[4096] = {};
  while (size > 0) {
    const size_t chunk = size < sizeof(zeros) ? size : sizeof(zeros);
    write(zeros, chunk);
    size -= chunk;
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw Error("cannot write '" + path_ + "': the file is already closed");
  flush();
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", errno);
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("rename failed", errno);
  committed_ = true;
  // Make the rename itself durable; failing here cannot undo it, so it is best effort.
  const int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace jisu
