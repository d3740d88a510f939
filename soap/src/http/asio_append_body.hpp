#pragma once
// Private: a Beast body that appends what the parser hands over to a
// std::string. Beast's string_body grows with resize() (zero-filling every
// byte before copying over it, measured: as costly as the copy itself) and
// buffer_body needs a sized target; appending copies each byte once.

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace ews::soap::detail {

struct append_body {
  using value_type = std::string;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      // Room for an announced body at once, bounded: a server announcing
      // much and sending little costs no large allocation.
      if (length) body_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, max_reserve)));
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      std::size_t n = 0;
      for (const auto b : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }

    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    static constexpr std::uint64_t max_reserve = 8 * 1024 * 1024;
    value_type& body_;
  };
};

}  // namespace ews::soap::detail
