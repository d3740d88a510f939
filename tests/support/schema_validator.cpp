#include "schema_validator.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include <climits>
#include <memory>
#include <mutex>
#include <stdexcept>

#ifndef EWS_TEST_SCHEMA_DIR
#error "EWS_TEST_SCHEMA_DIR must name the tests/schema folder"
#endif

namespace ews::test {
namespace {

constexpr const char* soap_ns = "http://schemas.xmlsoap.org/soap/envelope/";

// libxml2 2.12 made the structured error argument const.
#if LIBXML_VERSION >= 21200
using error_ptr = const xmlError*;
#else
using error_ptr = xmlErrorPtr;
#endif

// Appends each libxml2 message as "line N: text" to the std::string in ctx.
void collect(void* ctx, error_ptr err) {
  auto& out = *static_cast<std::string*>(ctx);
  if (err == nullptr || err->message == nullptr) return;
  out += "line ";
  out += std::to_string(err->line);
  out += ": ";
  out += err->message;  // ends with '\n'
}

struct schema_deleter {
  void operator()(xmlSchema* s) const noexcept { xmlSchemaFree(s); }
};
struct schema_parser_deleter {
  void operator()(xmlSchemaParserCtxt* c) const noexcept { xmlSchemaFreeParserCtxt(c); }
};
struct valid_ctxt_deleter {
  void operator()(xmlSchemaValidCtxt* c) const noexcept { xmlSchemaFreeValidCtxt(c); }
};
struct parser_deleter {
  void operator()(xmlParserCtxt* c) const noexcept { xmlFreeParserCtxt(c); }
};
struct doc_deleter {
  void operator()(xmlDoc* d) const noexcept { xmlFreeDoc(d); }
};

using schema_ptr = std::unique_ptr<xmlSchema, schema_deleter>;

// One parsed schema set. A schema that fails to load is a broken checkout,
// not a test result: it throws, and every test using it fails loudly.
class compiled_schema {
 public:
  explicit compiled_schema(const std::string& path) {
    std::string errors;
    std::unique_ptr<xmlSchemaParserCtxt, schema_parser_deleter> parser(
        xmlSchemaNewParserCtxt(path.c_str()));
    if (!parser) throw std::runtime_error("cannot create a schema parser for " + path);
    xmlSchemaSetParserStructuredErrors(parser.get(), collect, &errors);
    schema_.reset(xmlSchemaParse(parser.get()));
    if (!schema_) throw std::runtime_error("cannot load schema " + path + ":\n" + errors);
  }
  xmlSchema* get() const noexcept { return schema_.get(); }

 private:
  schema_ptr schema_;
};

void init_libxml2() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    // xmllint --nonet: the schema's imports are local files, and any
    // reference that is not must fail rather than reach for the network.
    // (Process-wide, which is acceptable in a test executable.)
    xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
  });
}

const compiled_schema& schema_for(schema_set set) {
  init_libxml2();
  // Function-local statics: parsed once, on first use, thread-safe.
  if (set == schema_set::onprem_15_2) {
    static const compiled_schema onprem(std::string(EWS_TEST_SCHEMA_DIR) +
                                        "/onprem-15.2.2562.17/soap-envelope.xsd");
    return onprem;
  }
  static const compiled_schema online(std::string(EWS_TEST_SCHEMA_DIR) + "/soap-envelope.xsd");
  return online;
}

bool is_soap(const xmlNode* n, const char* local) {
  return n != nullptr && n->type == XML_ELEMENT_NODE && n->ns != nullptr &&
         xmlStrEqual(n->ns->href, reinterpret_cast<const xmlChar*>(soap_ns)) &&
         xmlStrEqual(n->name, reinterpret_cast<const xmlChar*>(local));
}

}  // namespace

const char* to_string(schema_set set) noexcept {
  return set == schema_set::onprem_15_2 ? "onprem_15_2" : "exchange_online";
}

std::string validate_request(std::string_view envelope, schema_set set) {
  const compiled_schema& schema = schema_for(set);
  if (envelope.size() > static_cast<std::size_t>(INT_MAX)) return "envelope too large\n";

  std::unique_ptr<xmlParserCtxt, parser_deleter> parser(xmlNewParserCtxt());
  if (!parser) return "cannot create an XML parser\n";
  // No network, no entity expansion, messages kept in the context rather
  // than printed.
  const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  std::unique_ptr<xmlDoc, doc_deleter> doc(xmlCtxtReadMemory(
      parser.get(), envelope.data(), static_cast<int>(envelope.size()), "request.xml",
      nullptr, options));
  if (!doc) {
    std::string out = "not well-formed: ";
    const xmlError* err = xmlCtxtGetLastError(parser.get());
    out += err != nullptr && err->message != nullptr ? err->message : "unknown error\n";
    return out;
  }

  // The wrapper also makes every EWS element global, so a bare m:GetItem
  // would pass the schema: insist on the envelope shape first.
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!is_soap(root, "Envelope")) return "root element is not a SOAP 1.1 soap:Envelope\n";

  std::string errors;
  std::unique_ptr<xmlSchemaValidCtxt, valid_ctxt_deleter> validator(
      xmlSchemaNewValidCtxt(schema.get()));
  if (!validator) return "cannot create a schema validator\n";
  xmlSchemaSetValidStructuredErrors(validator.get(), collect, &errors);
  const int rc = xmlSchemaValidateDoc(validator.get(), doc.get());
  if (rc == 0) return {};
  if (errors.empty()) errors = "validation failed (libxml2 code " + std::to_string(rc) + ")\n";
  return errors;
}

}  // namespace ews::test
