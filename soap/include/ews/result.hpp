#pragma once
/// @file
/// `ews::result<T>`: a value or an `ews::error_info` (an `expected` for C++17).

#include <ews/error.hpp>

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace ews {

/// Holds either a T or the error that prevented it. Used by sans-I/O code
/// (parsers, request builders) so callers decide whether to throw.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}       // NOLINT: implicit by design
  result(error_info err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws ews::error if this holds an error.
  T& value() & {
    throw_if_error();
    return std::get<0>(v_);
  }
  const T& value() const& {
    throw_if_error();
    return std::get<0>(v_);
  }
  T&& value() && {
    throw_if_error();
    return std::get<0>(std::move(v_));
  }

  T& operator*() & { assert(has_value()); return std::get<0>(v_); }
  const T& operator*() const& { assert(has_value()); return std::get<0>(v_); }
  T* operator->() { assert(has_value()); return &std::get<0>(v_); }
  const T* operator->() const { assert(has_value()); return &std::get<0>(v_); }

  /// The error; only valid when !has_value().
  const error_info& error() const& { assert(!has_value()); return std::get<1>(v_); }
  error_info&& error() && { assert(!has_value()); return std::get<1>(std::move(v_)); }

 private:
  void throw_if_error() const {
    if (!has_value()) throw ews::error(std::get<1>(v_));
  }
  std::variant<T, error_info> v_;
};

/// Success without a value.
struct ok_t {};
inline constexpr ok_t ok{};

/// result<void> spelled as result<ok_t>; `return ews::ok;` for success.
using status = result<ok_t>;

}  // namespace ews
