#pragma once
// Files compiled into a sample program at build time (see
// samples/cmake/embed_files.cmake): the demo scenario travels inside
// ews-listen, so the installed program needs no data directory.

#include <string_view>
#include <vector>

namespace ews::samples::demo {

struct embedded_file {
  std::string_view name;
  std::string_view data;
};

/// The demo scenario's manifest and body files.
const std::vector<embedded_file>& embedded_files();

}  // namespace ews::samples::demo
