#include <ews/soap/mailbox_access.hpp>

#include <algorithm>

namespace ews::soap {
namespace {

bool clean(const std::string& s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

}  // namespace

mailbox_access on_behalf_of(const impersonation& who, std::string anchor, std::string server_version) {
  if (who.value.empty() || !clean(who.value) || !clean(anchor)) {
    throw error(make_error(errc::invalid_argument, "impersonation needs a mailbox identifier without control characters"));
  }
  mailbox_access out;
  out.envelope.server_version = std::move(server_version);
  out.envelope.impersonate = who;
  if (anchor.empty() && who.by != impersonation::kind::sid) anchor = who.value;
  if (!anchor.empty()) out.headers.push_back({"X-AnchorMailbox", std::move(anchor)});
  return out;
}

}  // namespace ews::soap
