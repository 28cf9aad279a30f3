// SPDX-License-Identifier: MIT
// The guides' aiohttp POST: a JSON payload sent with session.post(url, json=...), the
// status checked, and the server's echo of it read back as JSON.
//
//   post_json --demo   against an httpbin-like echo server started in-process (port 0)
//   post_json URL      POST to URL (e.g. https://httpbin.org/post) and print the echo
//
// aiohttp (guide 001, "Basic GET/POST"):
//   async def post_data(url: str, payload: dict) -> dict:
//       async with aiohttp.ClientSession() as session:
//           async with session.post(url, json=payload) as response:
//               response.raise_for_status()
//               return await response.json()
//
//   result = await post_data(
//       "https://httpbin.org/post",
//       {"username": "techtrends", "action": "subscribe"}
//   )
//   print(f"POST response received: {'json' in result}")
//
// Keyword arguments become request_options, a builder: json=payload is
// request_options().json(payload), params= is .param(name, value), headers= is
// .header(name, value). It is a builder and not a struct with designated initializers
// because g++ 12 frees an aggregate with std::string members twice when it is built
// inside a co_await expression (docs/hazards.md). For the same reason the payload is
// built in its own statement: a braced list inside the co_await statement does not
// compile on g++ 12.
#include <cstdio>
#include <cstring>
#include <string>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"

namespace http = aio::http;

namespace {

aio::coro<aio::json::value> post_data(std::string url, aio::json::value payload) {
  http::client_session session;
  http::client_response response = co_await session.post(
      url, http::request_options()
               .json(payload)                        // json=payload
               .param("source", "aio")               // params={"source": "aio"}
               .header("X-Request-Id", "example-1")  // headers={"X-Request-Id": ...}
  );
  response.raise_for_status();
  std::printf("POST %s -> %d %s\n", response.url().str().c_str(), response.status(),
              response.reason().c_str());
  aio::json::value result = co_await response.json();
  co_await session.close();
  co_return result;
}

aio::coro<void> post_and_print(std::string url) {
  // Built before the co_await statement (g++ 12: no braced lists inside one).
  aio::json::value payload = {{"username", "techtrends"}, {"action", "subscribe"}};
  aio::json::value result = co_await post_data(url, payload);
  std::printf("POST response received: %s\n", result.contains("json") ? "True" : "False");
  if (result.contains("json"))
    std::printf("echoed json: %s\n", aio::json::dump(result["json"]).c_str());
  if (result.contains("args"))
    std::printf("echoed args: %s\n", aio::json::dump(result["args"]).c_str());
  if (result.contains("headers") && result["headers"].contains("X-Request-Id"))
    std::printf("echoed X-Request-Id: %s\n",
                result["headers"]["X-Request-Id"].get<std::string>().c_str());
}

// --- The demo server: httpbin's POST /post, answering 201 Created ------------------------

aio::coro<http::response> httpbin_post(http::request& req) {
  aio::json::value payload = co_await req.json();  // 400 if the body is not JSON
  aio::json::value args = aio::json::value::object();
  for (const auto& [name, value] : req.query()) args[name] = value;
  aio::json::value headers = aio::json::value::object();
  for (const auto& [name, value] : req.headers()) headers[name] = value;
  aio::json::value echo = {
      {"args", args}, {"headers", headers}, {"json", payload}, {"origin", req.remote().host()}};
  co_return http::json_response(echo, 201);
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_post("/post", httpbin_post);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  co_await post_and_print("http://127.0.0.1:" + std::to_string(server.port()) + "/post");
  co_await server.shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: post_json --demo | URL\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0)
      aio::run(demo());
    else
      aio::run(post_and_print(argv[1]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "post_json: %s\n", e.what());
    return 1;
  }
}
