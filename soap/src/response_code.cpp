#include <ews/response_code.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace ews {
namespace {

constexpr std::array<std::string_view, response_code_count> names = {
#define EWS_DETAIL_NAME(name) std::string_view(#name),
    EWS_DETAIL_RESPONSE_CODES(EWS_DETAIL_NAME)
#undef EWS_DETAIL_NAME
};

// Name -> code, sorted once for binary search (codes arrive on every response).
const std::array<std::pair<std::string_view, response_code>, response_code_count>& sorted_names() {
  static const auto table = [] {
    std::array<std::pair<std::string_view, response_code>, response_code_count> t{};
    for (int i = 0; i < response_code_count; ++i) t[i] = {names[i], static_cast<response_code>(i)};
    std::sort(t.begin(), t.end());
    return t;
  }();
  return table;
}

}  // namespace

std::string_view to_string(response_code code) noexcept {
  const auto i = static_cast<int>(code);
  return i >= 0 && i < response_code_count ? names[i] : std::string_view("unknown");
}

std::optional<response_code> parse_response_code(std::string_view name) noexcept {
  const auto& table = sorted_names();
  const auto it = std::lower_bound(table.begin(), table.end(), name,
                                   [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == table.end() || it->first != name) return std::nullopt;
  return it->second;
}

}  // namespace ews
