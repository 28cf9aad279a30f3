// SPDX-License-Identifier: MIT
// The guides' FastAPI server, in aiohttp.web's shape: a JSON API with GET /users,
// GET /users/{id} and POST /users (201), two middlewares (timing, and a bearer token for
// writes), a background task that runs after the response ("send the welcome mail"),
// and a database opened by an on_startup hook and closed by an on_shutdown hook.
//
//   json_api_server [--port P]   serve on 127.0.0.1:P (8080) until Ctrl-C (run_app)
//   json_api_server --demo       serve on a free port (start_app) and exercise the API
//                                with a client_session, then shut down
//
// FastAPI (guide 004, "Web Frameworks"):
//   app = FastAPI()
//   pool = None
//
//   @app.on_event("startup")
//   async def startup():
//       global pool
//       pool = await asyncpg.create_pool(dsn='postgresql://...')
//
//   @app.on_event("shutdown")
//   async def shutdown():
//       await pool.close()
//
//   @app.get("/users/{user_id}")
//   async def get_user(user_id: int):
//       async with pool.acquire() as conn:
//           user = await conn.fetchrow('SELECT * FROM users WHERE id = $1', user_id)
//           if user:
//               return dict(user)
//           return {"error": "User not found"}
//
//   @app.get("/users")
//   async def list_users(): ...
//
//   async def send_email(email: str, message: str):
//       await asyncio.sleep(2)  # Simulate sending
//       print(f"Email sent to {email}")
//
//   @app.post("/signup")
//   async def signup(email: str, background_tasks: BackgroundTasks):
//       await save_user(email)
//       background_tasks.add_task(send_email, email, "Welcome!")
//       return {"status": "success"}
//
// In C++: routes are added to app.router(); a handler is a coroutine taking the request
// by reference (it lives until the handler's coroutine ends: copy what a background task
// needs) and returning a response; a missing user is http_error(404) (aiohttp's
// web.HTTPNotFound). req.add_background_task(fn) is BackgroundTasks.add_task: `fn` is
// called after the response has been sent, and the next request on that connection
// waits for it. The table lives in memory here instead of PostgreSQL.
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/http/server.hpp"

using namespace std::chrono_literals;

aio::coro<int> demo(aio::http::application& app);  // below: exercises the API
std::uint16_t port_from_args(int argc, char** argv);

// snippet-begin: example.http_json_api_server
// The guide's database pool, opened by an on_startup hook and closed by an on_shutdown
// hook: here a table in memory. One worker (run_app's default): the handlers share it
// without locks.
struct user_table {
  std::map<int, aio::json::value> rows;
  int next_id = 1;
};
user_table db;
std::vector<std::string> outbox;  // the mails sent by the background task

aio::coro<void> open_db(aio::http::application&) {
  co_await aio::sleep(10ms);  // connect
  db.rows[1] = {{"id", 1}, {"name", "Ada Lovelace"}, {"email", "ada@example.com"}};
  db.next_id = 2;
  std::printf("[startup] database open, %zu user\n", db.rows.size());
}

aio::coro<void> close_db(aio::http::application&) {
  co_await aio::sleep(10ms);  // disconnect
  std::printf("[shutdown] database closed\n");
}

aio::coro<aio::http::response> list_users(aio::http::request&) {
  aio::json::value users = aio::json::value::array();
  for (const auto& [id, user] : db.rows) users.push_back(user);
  co_return aio::http::json_response(users);
}

aio::coro<aio::http::response> get_user(aio::http::request& req) {
  const std::string_view text = req.match_info("id");
  int id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size())
    throw aio::http::http_error(422, "user id must be an integer");  // FastAPI's answer
  auto it = db.rows.find(id);
  if (it == db.rows.end()) throw aio::http::http_error(404, "User not found");
  co_return aio::http::json_response(it->second);
}

aio::coro<void> send_welcome_mail(std::string email) {  // by value: the frame owns it
  co_await aio::sleep(100ms);                           // simulate sending
  outbox.push_back(email);
  std::printf("[background] welcome mail sent to %s\n", email.c_str());
}

aio::coro<aio::http::response> create_user(aio::http::request& req) {
  aio::json::value body = co_await req.json();  // 400 if the body is not JSON
  if (!body.is_object() || !body.contains("email") || !body["email"].is_string())
    throw aio::http::http_error(422, "email is required");
  const int id = db.next_id++;
  aio::json::value user = {{"id", id}, {"name", body.value("name", "")}, {"email", body["email"]}};
  db.rows[id] = user;
  // Called after the response has been sent (FastAPI's background_tasks.add_task). The
  // request is gone by then: the task gets its own copy of the address.
  std::string email = body["email"];
  req.add_background_task([email] { return send_welcome_mail(email); });
  co_return aio::http::json_response(user, 201);
}

// Middlewares: the first added is the outermost.
aio::coro<aio::http::response> timing(aio::http::request& req, const aio::http::handler& next) {
  const auto start = std::chrono::steady_clock::now();
  aio::http::response resp = co_await next(req);
  const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  resp.headers.set("X-Process-Time", std::to_string(took.count()) + " us");
  co_return resp;
}

aio::coro<aio::http::response> require_token(aio::http::request& req,
                                             const aio::http::handler& next) {
  if (req.method() == "POST" && req.headers().get("Authorization") != "Bearer secret-token")
    throw aio::http::http_error(401, "a bearer token is required");
  co_return co_await next(req);
}

int main(int argc, char** argv) {
  aio::http::application app;
  app.add_middleware(timing);
  app.add_middleware(require_token);
  app.router().add_get("/users", list_users);
  app.router().add_get("/users/{id}", get_user);
  app.router().add_post("/users", create_user);
  app.on_startup().push_back(open_db);
  app.on_shutdown().push_back(close_db);
  if (argc > 1 && std::strcmp(argv[1], "--demo") == 0) return aio::run(demo(app));
  const std::uint16_t port = port_from_args(argc, argv);         // --port P (8080)
  aio::http::run_app(app, {.host = "127.0.0.1", .port = port});  // until Ctrl-C
}
// snippet-end

std::uint16_t port_from_args(int argc, char** argv) {
  if (argc == 1) return 8080;
  if (argc == 3 && std::strcmp(argv[1], "--port") == 0) {
    const int port = std::atoi(argv[2]);
    if (port > 0 && port < 65536) return static_cast<std::uint16_t>(port);
  }
  std::fprintf(stderr, "usage: json_api_server [--port P] | --demo\n");
  std::exit(2);
}

// One request, printed as "METHOD PATH -> STATUS BODY".
aio::coro<void> show(aio::http::client_session& session, std::string method, std::string base,
                     std::string path, aio::http::request_options opts) {
  aio::http::client_response r = co_await session.request(method, base + path, std::move(opts));
  std::string body = co_await r.text();
  std::printf("%s %s -> %d %s", method.c_str(), path.c_str(), r.status(), body.c_str());
  if (auto took = r.headers().get("X-Process-Time"))
    std::printf("   (X-Process-Time: %.*s)", static_cast<int>(took->size()), took->data());
  std::printf("\n");
}

aio::coro<int> demo(aio::http::application& app) {
  // start_app runs the on_startup hooks, then serves on this loop.
  aio::http::app_server server =
      co_await aio::http::start_app(app, {.host = "127.0.0.1", .port = 0, .print_banner = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  aio::http::client_session session;

  co_await show(session, "GET", base, "/users/1", aio::http::request_options());
  co_await show(session, "GET", base, "/users/42", aio::http::request_options());
  co_await show(session, "GET", base, "/users/abc", aio::http::request_options());

  aio::json::value grace = {{"name", "Grace Hopper"}, {"email", "grace@example.com"}};
  co_await show(session, "POST", base, "/users", aio::http::request_options().json(grace));
  co_await show(
      session, "POST", base, "/users",
      aio::http::request_options().json(grace).header("Authorization", "Bearer secret-token"));
  // The 201 came back before the background task sent the mail...
  std::printf("welcome mails sent when the 201 arrived: %zu\n", outbox.size());
  // ...and the next request on the same (pooled) connection waits for the task.
  co_await show(session, "GET", base, "/users", aio::http::request_options());
  std::printf("welcome mails sent now: %zu\n", outbox.size());

  co_await session.close();
  co_await server.shutdown();  // graceful; then the on_shutdown hooks
  co_return 0;
}
