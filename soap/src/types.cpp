#include <ews/soap/types.hpp>

#include "schema_names.hpp"

#include <string_view>

namespace ews::soap {
namespace {

constexpr event_type all_event_types[] = {
    event_type::new_mail, event_type::created,           event_type::modified,
    event_type::deleted,  event_type::moved,             event_type::copied,
    event_type::free_busy_changed, event_type::status,
};

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

bool is_distinguished_folder_name(const std::string& name) {
  return detail::distinguished_folder_names().contains(name);
}

const char* to_string(event_type type) noexcept {
  switch (type) {
    case event_type::new_mail: return "NewMail";
    case event_type::created: return "Created";
    case event_type::modified: return "Modified";
    case event_type::deleted: return "Deleted";
    case event_type::moved: return "Moved";
    case event_type::copied: return "Copied";
    case event_type::free_busy_changed: return "FreeBusyChanged";
    case event_type::status: return "Status";
  }
  return "Unknown";
}

std::optional<event_type> parse_event_type(const std::string& name) {
  std::string_view n = name;
  constexpr std::string_view suffix = "event";
  if (n.size() > suffix.size() && iequals(n.substr(n.size() - suffix.size()), suffix)) {
    n.remove_suffix(suffix.size());
  }
  for (event_type t : all_event_types) {
    if (iequals(n, to_string(t))) return t;
  }
  return std::nullopt;
}

}  // namespace ews::soap
