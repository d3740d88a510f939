// The README's embedding example: watch a mailbox, print the subject of each new mail.
#include <ews/auth.hpp>
#include <ews/listener.hpp>

#include <iostream>

int main() {
  ews::listener_options options;
  options.url = "https://mail.example.com/EWS/Exchange.asmx";
  options.credentials = ews::make_basic_credentials("svc@example.com", ews::secret::from_env("EWS_PASSWORD").value());
  options.mailboxes = {"alice@example.com"};  // watched through impersonation

  ews::listener listener(options);
  listener.on_item([](ews::item_outcome&& o) {  // fetched once per ItemId + ChangeKey, or gone
    if (o.kind == ews::outcome_kind::fetched) std::cout << o.source.mailbox << ": " << o.value->subject << "\n";
  });
  listener.on_gap([](const ews::gap& g) { std::cerr << "missed events since " << ews::to_iso8601(g.since) << "\n"; });
  listener.on_error([](const ews::error_info& e) { std::cerr << e.code_name() << ": " << e.message << "\n"; });

  ews::context ctx;           // cancel() it from another thread to stop
  listener.run(ctx);          // throws ews::error when the credentials are refused
}
