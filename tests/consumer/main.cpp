// Links against the installed library and checks the headers agree with it.
#include <ews/ews.hpp>

#include <cstring>
#include <iostream>

int main() {
  if (std::strcmp(ews::library_version(), EWS_VERSION_STRING) != 0) {
    std::cerr << "header version " << EWS_VERSION_STRING << " != library " << ews::library_version() << "\n";
    return 1;
  }
  try {
    throw ews::error(ews::make_error(ews::errc::timeout, "consumer check"));
  } catch (const ews::error& e) {
    std::cout << "consumer ok: " << e.what() << "\n";
  }
  return 0;
}
