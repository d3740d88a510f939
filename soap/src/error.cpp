#include <ews/error.hpp>

namespace ews {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ews"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};

std::string what_of(const error_info& info) {
  std::string s = info.code_name();
  if (!info.message.empty()) s += ": " + info.message;
  return s;
}

}  // namespace

const std::error_category& ews_category() noexcept {
  static const category instance;  // immutable; std::error_category identity needs one object
  return instance;
}

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::malformed_xml: return "malformed_xml";
    case errc::unexpected_response: return "unexpected_response";
    case errc::envelope_too_large: return "envelope_too_large";
    case errc::response_too_large: return "response_too_large";
    case errc::stream_garbage: return "stream_garbage";
    case errc::soap_fault: return "soap_fault";
    case errc::ews_error: return "ews_error";
    case errc::http_status: return "http_status";
    case errc::redirect: return "redirect";
    case errc::authentication: return "authentication";
    case errc::throttled: return "throttled";
    case errc::connect_failed: return "connect_failed";
    case errc::connection_reset: return "connection_reset";
    case errc::closed_mid_body: return "closed_mid_body";
    case errc::timeout: return "timeout";
    case errc::tls_failure: return "tls_failure";
    case errc::cancelled: return "cancelled";
    case errc::insecure_url: return "insecure_url";
    case errc::checkpoint_corrupt: return "checkpoint_corrupt";
    case errc::io_error: return "io_error";
    case errc::handler_failed: return "handler_failed";
  }
  return "unknown_error";
}

errc error_info::kind() const noexcept {
  return code.category() == ews_category() ? static_cast<errc>(code.value()) : errc{};
}

bool error_info::retryable() const noexcept {
  switch (kind()) {
    case errc::throttled:
    case errc::connect_failed:
    case errc::connection_reset:
    case errc::closed_mid_body:
    case errc::timeout:
      return true;
    default:
      return transient;
  }
}

std::string error_info::code_name() const {
  if (!response_code_text.empty()) return response_code_text;
  if (ews_code) return std::string(to_string(*ews_code));
  if (code.category() == ews_category()) return std::string(to_string(kind()));
  return code.message();
}

error_info make_error(errc kind, std::string message, bool transient) {
  error_info info;
  info.code = make_error_code(kind);
  info.message = std::move(message);
  info.transient = transient;
  return info;
}

error::error(error_info info) : std::system_error(info.code, what_of(info)), info_(std::move(info)) {}

}  // namespace ews
