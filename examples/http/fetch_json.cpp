// SPDX-License-Identifier: MIT
// The guides' aiohttp GET: JSON documents fetched with one shared session,
// raise_for_status(), resp.json(), and their fields printed.
//
//   fetch_json --demo         against an httpbin-like server started in-process (port 0)
//   fetch_json URL            GET URL and print its keys (e.g. https://httpbin.org/get)
//   fetch_json --users BASE   GET BASE/1 ... BASE/5 concurrently, print name and email
//                             (e.g. https://jsonplaceholder.typicode.com/users)
//
// aiohttp (guide 001, "Basic GET/POST"):
//   async def fetch_json(url: str) -> dict:
//       timeout = aiohttp.ClientTimeout(total=30)
//       async with aiohttp.ClientSession(timeout=timeout) as session:
//           async with session.get(url) as response:
//               response.raise_for_status()
//               return await response.json()
//
//   data = await fetch_json("https://httpbin.org/get")
//   print(f"GET response keys: {list(data.keys())}")
//
// and guide 002, "Real-World Example: Async HTTP Client" (one session for all requests):
//   async def fetch_json(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
//       async with session.get(url) as response:
//           response.raise_for_status()
//           return await response.json()
//
//   async def fetch_all_users(user_ids: list[int]) -> list[dict]:
//       base_url = "https://jsonplaceholder.typicode.com/users"
//       async with aiohttp.ClientSession() as session:
//           tasks = [fetch_json(session, f"{base_url}/{uid}") for uid in user_ids]
//           users = await asyncio.gather(*tasks, return_exceptions=True)
//           return [u for u in users if isinstance(u, dict)]
//
//   for user in users:
//       print(f"User: {user['name']} ({user['email']})")
//
// In C++ there is no `async with session.get(url) as response`: a client_response owns
// its connection until its body has been read to the end (json() reads it), and gives it
// back to the session's pool then; destroyed unread, it closes the connection.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

// One GET, its status checked, its body parsed. The session is borrowed: every caller
// awaits this while the session lives (gather does not return before its children).
aio::coro<aio::json::value> fetch_json(http::client_session& session, std::string url) {
  http::client_response response = co_await session.get(url);
  response.raise_for_status();  // client_response_error for a 4xx or 5xx
  co_return co_await response.json();
}

// Python's repr of a list of strings: ['a', 'b'].
std::string python_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ", ";
    out += "'" + item + "'";
  }
  return out + "]";
}

aio::coro<void> print_keys(std::string url) {
  http::client_session session({.timeout = {.total = 30s}});  // ClientTimeout(total=30)
  aio::json::value data = co_await fetch_json(session, url);
  std::vector<std::string> keys;
  if (data.is_object())
    for (const auto& item : data.items()) keys.push_back(item.key());
  std::printf("GET response keys: %s\n", python_list(keys).c_str());
  co_await session.close();
}

aio::coro<void> fetch_all_users(std::string base_url, std::vector<int> user_ids) {
  http::client_session session;  // one session, one connection pool, for every request
  std::vector<aio::coro<aio::json::value>> tasks;
  for (int uid : user_ids)
    tasks.push_back(fetch_json(session, base_url + "/" + std::to_string(uid)));
  // return_exceptions=True: one aio::outcome per request, a value or an exception.
  auto users = co_await aio::gather(aio::return_exceptions, std::move(tasks));
  std::size_t fetched = 0;
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (!users[i]) {
      std::printf("User %d failed: %s\n", user_ids[i], aio::describe(users[i].error()).c_str());
      continue;
    }
    const aio::json::value& user = *users[i];
    std::printf("User: %s (%s)\n", user.value("name", "?").c_str(),
                user.value("email", "?").c_str());
    ++fetched;
  }
  std::printf("%zu of %zu users fetched\n", fetched, users.size());
  co_await session.close();
}

// --- The demo server: httpbin's /get and jsonplaceholder's /users/{id} ------------------

aio::coro<http::response> httpbin_get(http::request& req) {
  aio::json::value args = aio::json::value::object();
  for (const auto& [name, value] : req.query()) args[name] = value;
  aio::json::value headers = aio::json::value::object();
  for (const auto& [name, value] : req.headers()) headers[name] = value;
  aio::json::value body = {
      {"args", args},
      {"headers", headers},
      {"origin", req.remote().host()},
      {"url", "http://" + std::string(req.headers().get("Host", "")) + std::string(req.target())}};
  co_return http::json_response(body);
}

aio::coro<http::response> get_user(http::request& req) {
  struct sample {
    const char* name;
    const char* email;
  };
  static constexpr sample users[] = {{"Leanne Graham", "Sincere@april.biz"},
                                     {"Ervin Howell", "Shanna@melissa.tv"},
                                     {"Clementine Bauch", "Nathan@yesenia.net"},
                                     {"Patricia Lebsack", "Julianne.OConner@kory.org"},
                                     {"Chelsey Dietrich", "Lucio_Hettinger@annie.ca"}};
  const std::string id(req.match_info("id"));
  co_await aio::sleep(10ms);  // a database lookup
  for (std::size_t i = 0; i < std::size(users); ++i) {
    if (id == std::to_string(i + 1)) {
      aio::json::value user = {{"id", i + 1}, {"name", users[i].name}, {"email", users[i].email}};
      co_return http::json_response(user);
    }
  }
  throw http::http_error(404, "no such user");
}

aio::coro<void> demo() {
  http::application app;
  app.router().add_get("/get", httpbin_get);
  app.router().add_get("/users/{id}", get_user);
  http::app_server server =
      co_await http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());

  co_await print_keys(base + "/get");
  // The guide's user ids, and one that does not exist (filtered out, as in the guide).
  std::vector<int> ids{1, 2, 3, 4, 5, 11};
  co_await fetch_all_users(base + "/users", std::move(ids));

  co_await server.shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "--users") == 0 && argc < 3)) {
    std::fprintf(stderr, "usage: fetch_json --demo | URL | --users BASE_URL\n");
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "--demo") == 0) {
      aio::run(demo());
    } else if (std::strcmp(argv[1], "--users") == 0) {
      std::vector<int> ids{1, 2, 3, 4, 5};
      aio::run(fetch_all_users(argv[2], std::move(ids)));
    } else {
      aio::run(print_keys(argv[1]));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fetch_json: %s\n", e.what());
    return 1;
  }
}
