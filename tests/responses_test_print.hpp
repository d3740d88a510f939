#pragma once
// Lets BOOST_TEST print the values the response tests compare.

#include <ews/error.hpp>
#include <ews/response_code.hpp>

#include <boost/test/tools/detail/print_helper.hpp>

#include <chrono>
#include <optional>
#include <ostream>

namespace ews {
inline std::ostream& boost_test_print_type(std::ostream& os, response_code c) { return os << to_string(c); }
inline std::ostream& boost_test_print_type(std::ostream& os, errc e) { return os << to_string(e); }
}  // namespace ews

namespace boost::test_tools::tt_detail {
template <class T>
struct print_log_value<std::optional<T>> {
  void operator()(std::ostream& os, const std::optional<T>& v) {
    if (v) print_log_value<T>()(os, *v);
    else os << "nullopt";
  }
};
template <class Rep, class Period>
struct print_log_value<std::chrono::duration<Rep, Period>> {
  void operator()(std::ostream& os, const std::chrono::duration<Rep, Period>& d) { os << d.count(); }
};
}  // namespace boost::test_tools::tt_detail
