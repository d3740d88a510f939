#pragma once
// Command-line options of one benchmark mode: "--name value" pairs.

#include <cstddef>
#include <map>
#include <utility>
#include <string>
#include <vector>

namespace ews::bench {

class options {
 public:
  /// Parses argv[first..]; throws std::runtime_error on a dangling "--name"
  /// or a word that is not an option.
  options(int argc, char** argv, int first);
  explicit options(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  void set(const std::string& name, std::string value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string text(const std::string& name, const std::string& fallback) const;
  std::size_t number(const std::string& name, std::size_t fallback) const;
  /// Every option back as arguments ("--name", "value", ...).
  std::vector<std::string> args() const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace ews::bench
