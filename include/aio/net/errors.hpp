// SPDX-License-Identifier: MIT
// aio/net/errors.hpp — the exceptions of the net layer, named after Python's:
//
//   OSError                 -> aio::os_error                 : std::system_error (errno kept)
//   ConnectionError         -> aio::connection_error         : os_error
//   ConnectionRefusedError  -> aio::connection_refused_error : connection_error (ECONNREFUSED)
//   ConnectionResetError    -> aio::connection_reset_error   : connection_error (ECONNRESET)
//   ConnectionAbortedError  -> aio::connection_aborted_error : connection_error (ECONNABORTED)
//   BrokenPipeError         -> aio::broken_pipe_error        : connection_error (EPIPE, ESHUTDOWN)
//   asyncio.IncompleteReadError -> aio::incomplete_read_error : std::runtime_error
//   asyncio.LimitOverrunError   -> aio::limit_overrun_error   : std::runtime_error
//
// Messages say what failed and where, then the system's reason in lower case:
// "connect to 127.0.0.1:1: connection refused". code() is the errno as a
// std::error_code of std::generic_category(), so `e.code() == std::errc::timed_out` works.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>

namespace aio {

class os_error : public std::system_error {
 public:
  os_error(int err, const std::string& what);
  const char* what() const noexcept override { return msg_.c_str(); }
  int error_number() const noexcept { return code().value(); }

 private:
  std::string msg_;
};

class connection_error : public os_error {
 public:
  using os_error::os_error;
};
class connection_refused_error : public connection_error {
 public:
  using connection_error::connection_error;
};
class connection_reset_error : public connection_error {
 public:
  using connection_error::connection_error;
};
class connection_aborted_error : public connection_error {
 public:
  using connection_error::connection_error;
};
class broken_pipe_error : public connection_error {
 public:
  using connection_error::connection_error;
};

/// Throws the os_error subclass that matches `err` (ECONNREFUSED ->
/// connection_refused_error, ...), with the message "<what>: <reason>".
[[noreturn]] void throw_os_error(int err, const std::string& what);

/// readexactly() or readuntil() met the end of the stream first: partial() holds what
/// was read; expected() the size readexactly wanted, 0 for readuntil (Python's None).
class incomplete_read_error : public std::runtime_error {
 public:
  incomplete_read_error(std::string partial, std::size_t expected);
  const std::string& partial() const noexcept { return partial_; }
  std::size_t expected() const noexcept { return expected_; }

 private:
  std::string partial_;
  std::size_t expected_;
};

/// readuntil()/readline() found no separator within the stream's limit. consumed() is
/// how many bytes would have to be consumed to get past the limit (asyncio's field).
class limit_overrun_error : public std::runtime_error {
 public:
  limit_overrun_error(const std::string& message, std::size_t consumed)
      : std::runtime_error(message), consumed_(consumed) {}
  std::size_t consumed() const noexcept { return consumed_; }

 private:
  std::size_t consumed_;
};

}  // namespace aio
