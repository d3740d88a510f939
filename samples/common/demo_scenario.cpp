#include "demo_scenario.hpp"

#include "embedded_files.hpp"

#include <ews/error.hpp>

namespace ews::samples::demo {
namespace {

result<std::string> find(std::string_view name) {
  for (const auto& f : embedded_files())
    if (f.name == name) return std::string(f.data);
  return make_error(errc::invalid_argument, "the demo has no file named " + std::string(name));
}

}  // namespace

testing::scenario load() {
  auto manifest = find("manifest");
  if (!manifest) throw error(manifest.error());
  auto s = testing::parse_manifest(*manifest, "demo/manifest", [](std::string_view n) { return find(n); });
  if (!s) throw error(s.error());
  return std::move(*s);
}

}  // namespace ews::samples::demo
