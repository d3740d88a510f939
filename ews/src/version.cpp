#include <ews/ews.hpp>

namespace ews {

const char* library_version() noexcept { return EWS_VERSION_STRING; }

}  // namespace ews
