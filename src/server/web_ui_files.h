#pragma once
// The web chat's files (src/server/web_ui/), compiled into the binary by
// cmake/embed_files.cmake, so `jisu serve` needs nothing beside it and fetches nothing.
#include <span>
#include <string_view>

namespace jisu::server {

struct EmbeddedFile {
  std::string_view path;     // below src/server/web_ui/, e.g. "app.js"
  std::string_view content;
};

std::span<const EmbeddedFile> embedded_web_files();

}  // namespace jisu::server
