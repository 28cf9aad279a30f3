// SPDX-License-Identifier: MIT
// aio/http/errors.hpp — the exceptions of the HTTP layer, named after aiohttp's:
//
//   aiohttp.ClientError      -> aio::http::client_error    : std::runtime_error
//   ClientConnectionError    -> client_connection_error    : client_error
//   ClientResponseError      -> client_response_error      : client_error (status, url)
//   TooManyRedirects         -> too_many_redirects         : client_response_error
//   ClientPayloadError       -> client_payload_error       : client_error
//   ServerDisconnectedError  -> server_disconnected_error  : client_connection_error
//   InvalidURL               -> invalid_url                : client_error
//   BadHttpMessage           -> protocol_error             : std::runtime_error
//
// The client wraps connection failures in client_connector_error (aio/http/client.hpp,
// aiohttp's ClientConnectorError), whose cause() is the original aio::os_error,
// dns_error or ssl_error; timeouts are aio::timeout_error, as in aiohttp where
// ServerTimeoutError is also an asyncio.TimeoutError.
#pragma once

#include <stdexcept>
#include <string>

namespace aio::http {

/// A message that is not valid HTTP/1.x (or breaks a limit). status() is the answer a
/// server gives for it: 400, 413 (body too large), 431 (header too large), 501.
class protocol_error : public std::runtime_error {
 public:
  protocol_error(int status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

class client_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class client_connection_error : public client_error {
 public:
  using client_error::client_error;
};

/// The server closed the connection before a whole response came.
class server_disconnected_error : public client_connection_error {
 public:
  using client_connection_error::client_connection_error;
};

/// raise_for_status(): a 4xx or 5xx answer. what() is "404, message='Not Found',
/// url='http://...'" as aiohttp's.
class client_response_error : public client_error {
 public:
  client_response_error(int status, std::string reason, std::string url);
  client_response_error(int status, std::string reason, std::string url, const std::string& what);
  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& url() const noexcept { return url_; }

 private:
  int status_;
  std::string reason_;
  std::string url_;
};

class too_many_redirects : public client_response_error {
 public:
  using client_response_error::client_response_error;
};

/// A response body that cannot be read as framed (a cut chunked body, a short
/// Content-Length body, undecodable compression).
class client_payload_error : public client_error {
 public:
  using client_error::client_error;
};

class invalid_url : public client_error {
 public:
  using client_error::client_error;
};

}  // namespace aio::http
