#include "options.hpp"

#include <stdexcept>

namespace ews::bench {

options::options(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument '" + a + "'");
    // A flag without a value ("--quick") is "1".
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
      values_[a.substr(2)] = argv[++i];
    else
      values_[a.substr(2)] = "1";
  }
}

std::string options::text(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::size_t options::number(const std::string& name, std::size_t fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    return static_cast<std::size_t>(std::stoull(it->second));
  } catch (const std::exception&) {
    throw std::runtime_error("--" + name + " needs a number, not '" + it->second + "'");
  }
}

std::vector<std::string> options::args() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_) {
    out.push_back("--" + k);
    out.push_back(v);
  }
  return out;
}

}  // namespace ews::bench
