// SPDX-License-Identifier: MIT
// The guides' HTTP retries: exponential backoff (with jitter) around a GET that fails
// with 5xx answers, connection errors or timeouts — first the guide's hand-written loop,
// then aio::retry with a retry_if that retries what is transient and nothing else.
//
//   retry_backoff_http --demo   against a server started in-process (port 0) whose
//                               /flaky route fails the first N calls with 503
//   retry_backoff_http URL      GET URL with aio::retry (try https://httpbin.org/status/503)
//
// aiohttp (guide 003, "aiohttp in Practice"):
//   async def _fetch_one(session, sem, url, retries=3):
//       async with sem:
//           for attempt in range(retries):
//               try:
//                   async with session.get(url) as resp:
//                       resp.raise_for_status()
//                       return await resp.json()
//               except (aiohttp.ClientError, asyncio.TimeoutError):
//                   if attempt == retries - 1:
//                       raise
//                   await asyncio.sleep(2 ** attempt)  # exponential backoff
//
// and guide 001, "Pattern 3: Retry with Exponential Backoff":
//   delay = min(base_delay * (2 ** attempt), max_delay)
//   jitter = random.uniform(0, delay * 0.1)
//   print(f"⚠️ Attempt {attempt + 1} failed: {e}. Retrying in {total_wait:.1f}s...")
//   await asyncio.sleep(total_wait)
//
// The C++ difference: the guide sleeps inside its `except` block; C++ cannot co_await
// in a catch block (a language rule), so the handler keeps the exception and the sleep
// comes after it (docs/hazards.md, "No co_await in a catch block"). aio::retry does that
// for you, and its retry_if decides what is worth retrying: the guide retries every
// ClientError, a 404 included; retrying a 404 only makes it slower.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <random>
#include <string>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

long long to_ms(aio::duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

aio::coro<aio::json::value> fetch_json(http::client_session& session, std::string url) {
  http::client_response resp = co_await session.get(url);
  resp.raise_for_status();
  co_return co_await resp.json();
}

// The guide's loop: `retries` attempts, base_delay * 2^attempt (+ up to 10% jitter)
// between them, every ClientError and timeout retried.
aio::coro<aio::json::value> fetch_with_retries(http::client_session& session, std::string url,
                                               int retries, aio::duration base_delay) {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    std::exception_ptr error;
    try {
      co_return co_await fetch_json(session, url);
    } catch (const http::client_error&) {  // aiohttp.ClientError
      error = std::current_exception();
    } catch (const aio::timeout_error&) {  // asyncio.TimeoutError
      error = std::current_exception();
    }
    if (attempt == retries - 1) std::rethrow_exception(error);
    const auto delay = std::chrono::duration_cast<aio::duration>(base_delay * (1 << attempt));
    const auto jitter = std::chrono::duration_cast<aio::duration>(
        delay * std::uniform_real_distribution<double>(0, 0.1)(rng));
    std::printf("  Attempt %d failed: %s. Retrying in %lld ms...\n", attempt + 1,
                aio::describe(error).c_str(), to_ms(delay + jitter));
    co_await aio::sleep(delay + jitter);  // after the catch block, not inside it
  }
}

// What is worth another try: a 5xx (or 429) answer, a connection that could not be made
// or broke, a body cut short, a timeout. Not a 4xx: the same request gets the same answer.
bool is_transient(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const http::client_response_error& r) {
    return r.status() >= 500 || r.status() == 429;
  } catch (const http::client_connection_error&) {  // refused, reset, server disconnected
    return true;
  } catch (const http::client_payload_error&) {  // the body was cut short
    return true;
  } catch (const aio::timeout_error&) {
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

aio::coro<aio::json::value> fetch_with_aio_retry(http::client_session& session, std::string url,
                                                 int max_retries, aio::duration base_delay) {
  // retry_options holds references (function_ref) to these two: they outlive the call.
  auto retry_if = [](const std::exception_ptr& e) { return is_transient(e); };
  auto on_retry = [](int attempt, const std::exception_ptr& e, aio::duration delay) {
    std::printf("  retry %d after %s, in %lld ms\n", attempt, aio::describe(e).c_str(),
                to_ms(delay));
  };
  co_return co_await aio::retry([&] { return fetch_json(session, url); },
                                {.max_retries = max_retries,
                                 .base_delay = base_delay,
                                 .max_delay = 2s,
                                 .jitter = 0.1,  // 10% of each delay is random
                                 .retry_if = retry_if,
                                 .on_retry = on_retry});
}

// --- The demo server: /flaky/{key}?fail=N fails its first N calls with 503 ---------------

std::map<std::string, int> calls;  // per key

aio::coro<http::response> flaky(http::request& req) {
  const std::string key(req.match_info("key"));
  const int fail = std::stoi(std::string(req.query_param("fail").value_or("3")));
  const int n = ++calls[key];
  if (n <= fail) throw http::http_error(503, "overloaded, call " + std::to_string(n));
  aio::json::value body = {{"status", "ok"}, {"attempts", n}};
  co_return http::json_response(body);
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_get("/flaky/{key}", flaky);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  // A port that refuses connections: a server that was started and shut down.
  http::application nothing;
  http::app_server gone =
      co_await http::start_app(nothing, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string closed_port = "http://127.0.0.1:" + std::to_string(gone.port()) + "/";
  co_await gone.shutdown();

  http::client_session session;

  std::printf("the guide's loop (3 attempts, 50 ms * 2^attempt), GET /flaky/a?fail=2:\n");
  aio::json::value a = co_await fetch_with_retries(session, base + "/flaky/a?fail=2", 3, 50ms);
  std::printf("  result: %s\n", aio::json::dump(a).c_str());

  std::printf("aio::retry (4 retries, from 50 ms), GET /flaky/b?fail=3:\n");
  aio::json::value b = co_await fetch_with_aio_retry(session, base + "/flaky/b?fail=3", 4, 50ms);
  std::printf("  result: %s after %d calls\n", aio::json::dump(b).c_str(), calls["b"]);

  std::printf("aio::retry, GET /missing:\n");
  auto missing = co_await aio::as_result(fetch_with_aio_retry(session, base + "/missing", 4, 50ms));
  std::printf("  not retried: %s\n", aio::describe(missing.error()).c_str());

  std::printf("aio::retry (2 retries), GET a closed port:\n");
  auto refused = co_await aio::as_result(fetch_with_aio_retry(session, closed_port, 2, 50ms));
  std::printf("  gave up: %s\n", aio::describe(refused.error()).c_str());

  co_await session.close();
  co_await server.shutdown();
}

aio::coro<void> fetch_url(std::string url) {
  http::client_session session({.timeout = {.total = 30s, .connect = 5s}});
  aio::json::value v = co_await fetch_with_aio_retry(session, url, 4, 500ms);
  std::printf("result: %s\n", aio::json::dump(v).c_str());
  co_await session.close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: retry_backoff_http --demo | URL\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0)
      aio::run(demo());
    else
      aio::run(fetch_url(argv[1]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "retry_backoff_http: %s\n", e.what());
    return 1;
  }
}
