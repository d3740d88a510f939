#pragma once
// The HTTP engine listener-level tests build their transport on:
// cpprestsdk (the library's default) unless the environment says
// EWS_TEST_HTTP_ENGINE=asio. CTest runs those tests once more that way, so
// the whole listener is exercised on both engines. Test code only.

#include <ews/soap/transport.hpp>

#include <cstdlib>
#include <string_view>

namespace ews::test {

inline soap::http_engine http_engine_under_test() {
  const char* e = std::getenv("EWS_TEST_HTTP_ENGINE");
  return e != nullptr && std::string_view(e) == "asio" ? soap::http_engine::asio : soap::http_engine::cpprestsdk;
}

}  // namespace ews::test
