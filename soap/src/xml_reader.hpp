#pragma once
// Private: namespace-aware reading of SOAP/EWS documents on top of pugixml.
//
// pugixml keeps qualified names as written and knows nothing of namespaces.
// We resolve each element's namespace URI from the xmlns declarations in
// scope and match by (URI, local name), never by prefix: real servers use
// "s:", "soap:", "soap11:", "SOAP:" or a default namespace for the envelope.
//
// Cost model: an `element` is built while descending from the root and
// carries the nearest ancestor that declares namespaces, so resolving a
// prefix starts there (usually the operation's response element, which
// declares m: and t:) instead of at the element itself. Whether the element
// declares namespaces itself is looked up only when that matters (its
// namespace, or descending into it): most elements are passed over by their
// local name. The namespace of an element is resolved at most once and only
// when its local name already matched. Traversal is explicit and shallow (the readers only
// descend into elements they know), so deep nesting in the input costs no
// recursion.

#include <ews/error.hpp>

#include <pugixml.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ews::soap::detail {

/// The namespaces the readers care about.
enum class xml_ns : std::uint8_t {
  none,      ///< no namespace (no prefix, no default namespace in scope)
  soap,      ///< http://schemas.xmlsoap.org/soap/envelope/
  messages,  ///< .../exchange/services/2006/messages
  types,     ///< .../exchange/services/2006/types
  errors,    ///< .../exchange/services/2006/errors
  other,     ///< any other URI, or an undeclared prefix
};

xml_ns classify_namespace_uri(std::string_view uri) noexcept;

/// Local part of a qualified name ("m:Items" -> "Items").
inline std::string_view local_name(const char* qname) noexcept {
  std::string_view n(qname);
  const auto colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

/// One element reached by descending from the root, with enough context to
/// resolve namespace prefixes. A cheap value (two pugi handles and a view
/// into the document); valid while the document lives.
class element {
 public:
  /// The document element (or any element treated as a root).
  explicit element(pugi::xml_node node) noexcept;

  explicit operator bool() const noexcept { return static_cast<bool>(node_); }
  pugi::xml_node node() const noexcept { return node_; }
  std::string_view local() const noexcept { return local_; }
  /// The namespace of this element (resolved on first use).
  xml_ns ns() const noexcept;
  bool is(xml_ns ns_, std::string_view local_name_) const noexcept {
    return local_ == local_name_ && ns() == ns_;
  }

  /// The first child element, or the next sibling element, as an `element`
  /// whose scope is this element's (for first_child) or the parent's.
  element first_child() const noexcept;
  element next_sibling() const noexcept;
  /// First child element with this namespace and local name.
  element child(xml_ns ns_, std::string_view local_name_) const noexcept;
  /// First child element with this local name in any namespace.
  element child_any_ns(std::string_view local_name_) const noexcept;

  /// Text content (first PCDATA/CDATA child), "" if none.
  std::string_view text() const noexcept;
  /// Text with XML whitespace stripped at both ends (codes, ids, numbers).
  std::string_view trimmed_text() const noexcept;
  /// Value of an unqualified attribute, "" if absent.
  std::string_view attribute(const char* name) const noexcept;

  /// Resolves `prefix` ("" for the default namespace) in this element's scope.
  xml_ns resolve_prefix(std::string_view prefix) const noexcept;

 private:
  element(pugi::xml_node node, pugi::xml_node parent_declaring) noexcept;

  // Nearest ancestor-or-self with xmlns attributes (looked up on first use).
  pugi::xml_node declaring() const noexcept;

  pugi::xml_node node_;
  pugi::xml_node outer_;  // nearest declaring ancestor (siblings share it)
  std::string_view local_;
  mutable pugi::xml_node declaring_;
  mutable bool declaring_known_ = false;
  mutable std::optional<xml_ns> ns_;
};

/// Range over the child elements of an element: `for (const element& c : children(e))`.
class children {
 public:
  explicit children(const element& parent) noexcept : parent_(parent) {}
  class iterator {
   public:
    explicit iterator(element e) noexcept : e_(e) {}
    const element& operator*() const noexcept { return e_; }
    iterator& operator++() noexcept {
      e_ = e_.next_sibling();
      return *this;
    }
    bool operator!=(const iterator& o) const noexcept { return e_.node() != o.e_.node(); }

   private:
    element e_;
  };
  iterator begin() const noexcept { return iterator(parent_.first_child()); }
  iterator end() const noexcept { return iterator(element(pugi::xml_node())); }

 private:
  element parent_;
};

/// A parsed document and, when it was parsed from a copy, that copy (pugixml
/// parses in place and its nodes point into the buffer).
struct parsed_document {
  std::string copy;
  pugi::xml_document doc;
};

/// Parses one envelope: recovers from the not-well-formed forms real servers
/// send (see the .cpp), returns errc::malformed_xml with pugixml's offset and
/// description otherwise, and errc::unexpected_response for an HTML page.
/// On success `out` holds the document. Parses a copy of `text`.
std::optional<error_info> parse_envelope(std::string_view text, parsed_document& out);

/// The same, parsing `text` itself: no copy, which matters for answers of
/// hundreds of KB. `text` is overwritten and must outlive `out`'s use.
std::optional<error_info> parse_envelope_in_place(std::string& text, parsed_document& out);

/// Rewrites character references to characters XML 1.0 forbids, in place;
/// returns the new length. Exposed for tests.
std::size_t replace_illegal_char_refs(char* data, std::size_t size) noexcept;

// Small value parsers (whitespace already trimmed by the caller or not).
std::optional<bool> parse_bool(std::string_view s) noexcept;
std::optional<std::int64_t> parse_int(std::string_view s) noexcept;

}  // namespace ews::soap::detail
