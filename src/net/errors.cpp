// SPDX-License-Identifier: MIT
#include "aio/net/errors.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>

namespace aio {

namespace {

std::string reason(int err) {
  std::string r = std::generic_category().message(err);
  // "Connection refused" -> "connection refused", but keep acronyms ("I/O error").
  if (r.size() > 1 && std::isupper(static_cast<unsigned char>(r[0])) &&
      !std::isupper(static_cast<unsigned char>(r[1])))
    r[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(r[0])));
  return r;
}

}  // namespace

os_error::os_error(int err, const std::string& what)
    : std::system_error(err, std::generic_category(), what), msg_(what + ": " + reason(err)) {}

void throw_os_error(int err, const std::string& what) {
  switch (err) {
    case ECONNREFUSED:
      throw connection_refused_error(err, what);
    case ECONNRESET:
      throw connection_reset_error(err, what);
    case ECONNABORTED:
      throw connection_aborted_error(err, what);
    case EPIPE:
    case ESHUTDOWN:
      throw broken_pipe_error(err, what);
    default:
      throw os_error(err, what);
  }
}

incomplete_read_error::incomplete_read_error(std::string partial, std::size_t expected)
    : std::runtime_error(std::to_string(partial.size()) + " bytes read on a total of " +
                         (expected ? std::to_string(expected) : std::string("undefined")) +
                         " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}

}  // namespace aio
