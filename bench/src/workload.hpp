#pragma once
// The bytes of a benchmark run: GetStreamingEvents envelopes carrying
// NewMailEvents and the GetItem answers for them, built from recorded server
// responses (Exchange 2016's streaming envelope, Exchange Online's GetItem
// Message) with generated ids and bodies. The server process and the pugixml
// limit measurement build the very same bytes from the same functions.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ews::bench {

/// Templates cut out of the fixtures in tests/fixtures; loaded once.
class workload {
 public:
  /// Reads the fixtures under `source_dir` (the repository root). Throws
  /// std::runtime_error naming a missing or unexpected file.
  explicit workload(const std::string& source_dir);

  /// An ItemId of Exchange Online's length and form that encodes `seq`.
  static std::string item_id(std::uint64_t seq);
  static std::string change_key(std::uint64_t seq);
  /// The `seq` in an id made by item_id(); nullopt for anything else.
  static std::optional<std::uint64_t> seq_of(std::string_view id);
  /// A SubscriptionId of Exchange's length and form (base64 with the server's
  /// name in it) for subscription number `n`.
  static std::string subscription_id(std::uint64_t n);

  /// One NewMailEvent for mail `seq`, in Exchange's form.
  std::string new_mail_event(std::uint64_t seq) const;
  /// A streaming envelope holding one m:Notification per (subscription,
  /// events) pair.
  std::string events_envelope(const std::vector<std::pair<std::string, std::string>>& notifications) const;
  /// A ConnectionStatus OK envelope (Exchange's keep-alive).
  std::string keep_alive_envelope() const;

  /// A GetItem response with one Message per seq (in order), each carrying a
  /// body of about `body_bytes` bytes on the wire (0: the recorded body) and
  /// `subject` ("" keeps the recorded subject).
  std::string get_item_response(const std::vector<std::uint64_t>& seqs, std::size_t body_bytes,
                                const std::vector<std::string>& subjects = {}) const;

  /// Subscribe / Unsubscribe answers (recorded forms).
  std::string subscribe_response(const std::string& subscription_id) const;
  std::string unsubscribe_response() const;

 private:
  std::string stream_head_;   // envelope up to the message's content after ResponseCode
  std::string stream_tail_;   // from </m:GetStreamingEventsResponseMessage> on
  std::string item_head_;     // GetItem envelope up to <m:ResponseMessages>
  std::string item_tail_;     // from </m:ResponseMessages> on
  std::string message_;       // one GetItemResponseMessage with placeholders
};

/// The whole file; throws std::runtime_error naming it when unreadable.
std::string slurp(const std::string& path);

/// Every attribute value of `attribute` (e.g. "Id") on elements whose local
/// name is `element` (e.g. "ItemId") in a request body. Tolerant and fast:
/// the bench server reads the ids a GetItem asks for with it.
std::vector<std::string> attribute_values(std::string_view xml, std::string_view element,
                                          std::string_view attribute);

/// The text of every element with local name `element` ("SubscriptionId").
std::vector<std::string> element_texts(std::string_view xml, std::string_view element);

}  // namespace ews::bench
