#pragma once
// Private: the types.xsd enumerations request arguments are checked against.

#include <cstddef>
#include <string_view>

namespace ews::soap::detail {

/// A sorted, static list of names (no ownership, no allocation).
class name_list {
 public:
  constexpr name_list(const std::string_view* data, std::size_t size) noexcept
      : data_(data), size_(size) {}
  const std::string_view* begin() const noexcept { return data_; }
  const std::string_view* end() const noexcept { return data_ + size_; }
  std::size_t size() const noexcept { return size_; }
  bool contains(std::string_view name) const noexcept;

 private:
  const std::string_view* data_;
  std::size_t size_;
};

/// DistinguishedFolderIdNameType ("inbox", "msgfolderroot", ...).
name_list distinguished_folder_names() noexcept;
/// ExchangeVersionType ("Exchange2013_SP1", "V2017_07_11", ...).
name_list exchange_versions() noexcept;
/// UnindexedFieldURIType ("item:Subject", "message:From", ...).
name_list unindexed_field_uris() noexcept;

}  // namespace ews::soap::detail
