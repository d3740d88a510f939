#pragma once
/// @file
/// What every request made on another mailbox's behalf carries: the
/// ExchangeImpersonation SOAP header and the `X-AnchorMailbox` header that
/// routes it to the mailbox's server (Exchange Online, Exchange 2013+).
///
///     auto access = ews::soap::on_behalf_of({impersonation::kind::smtp_address, "a@example.com"});
///     auto envelope = build_get_item(access.envelope, request);
///     service.call(*envelope, access.headers, ctx);

#include <ews/soap/requests.hpp>
#include <ews/soap/transport.hpp>
#include <ews/soap/types.hpp>

#include <string>

namespace ews::soap {

struct mailbox_access {
  envelope_options envelope;  ///< ExchangeImpersonation set
  http_headers headers;       ///< X-AnchorMailbox, when an anchor is known
};

/// Settings for acting as `who`. The anchor is the SMTP address or the UPN
/// (both are address forms Exchange routes by); for a SID, pass the
/// mailbox's SMTP address as `anchor` (a SID is not an anchor Exchange
/// documents), else no X-AnchorMailbox is sent. Throws ews::error
/// (errc::invalid_argument) when `who.value` is empty or holds a control
/// character.
mailbox_access on_behalf_of(const impersonation& who, std::string anchor = {},
                            std::string server_version = envelope_options{}.server_version);

}  // namespace ews::soap
