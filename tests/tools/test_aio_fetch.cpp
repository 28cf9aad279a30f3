// SPDX-License-Identifier: MIT
// aio-fetch as a user runs it: a real process against a local aio HTTP server — JSON
// lines, exit codes, retries honouring Retry-After, bodies saved to files, Ctrl-C in
// the middle of a run, usage errors, and the demo.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "../support/nginx.hpp"
#include "aio/aio.hpp"
#include "aio/http/server.hpp"
#include "aio/json.hpp"
#include "aio/net/subprocess.hpp"
#include "aio/testing.hpp"

using namespace std::chrono_literals;
namespace http = aio::http;

namespace {

struct ran {
  int rc;
  std::string out, err;
};

aio::coro<ran> fetch_tool(std::vector<std::string> args) {
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  o.error = aio::stdio::pipe;
  aio::process p = co_await aio::create_subprocess_exec(AIO_FETCH_BIN, std::move(args), o);
  auto [out, err] = co_await p.communicate();
  const int rc = co_await p.wait();
  co_return ran{rc, std::move(out), std::move(err)};
}

std::vector<aio::json::value> json_lines(const std::string& out) {
  std::vector<aio::json::value> v;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto nl = out.find('\n', pos);
    v.push_back(aio::json::parse(std::string_view(out).substr(pos, nl - pos)));
    pos = nl == std::string::npos ? out.size() : nl + 1;
  }
  return v;
}

struct test_server {
  http::application app;
  std::map<std::string, int> flaky;
  test_server() {
    app.router().add_get("/page/{name}", [](http::request& req) -> aio::coro<http::response> {
      co_return http::response::text("page " + std::string(req.match_info("name")));
    });
    app.router().add_get("/big", [](http::request&) -> aio::coro<http::response> {
      co_return http::response::text(std::string(300000, 'b'));
    });
    app.router().add_get("/missing", [](http::request&) -> aio::coro<http::response> {
      throw http::http_error(404);
      co_return http::response{};
    });
    app.router().add_get("/flaky/{id}", [this](http::request& req) -> aio::coro<http::response> {
      if (flaky[std::string(req.match_info("id"))]++ < 2) {
        http::response r = http::response::text("busy", 503);
        r.headers.add("Retry-After", "0");
        co_return r;
      }
      co_return http::response::text("finally");
    });
    app.router().add_get("/slow", [](http::request&) -> aio::coro<http::response> {
      co_await aio::sleep(30s);
      co_return http::response::text("late");
    });
  }
};

AIO_TEST(aio_fetch, json_lines_and_exit_status) {
  test_server ts;
  http::app_server srv = co_await http::start_app(ts.app, {.host = "127.0.0.1", .port = 0});
  const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
  std::vector<std::string> args = {"--no-progress", base + "/page/a", base + "/page/b",
                                   base + "/big"};
  ran r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  auto lines = json_lines(r.out);
  CO_ASSERT_EQ(lines.size(), 3u);
  std::map<std::string, aio::json::value> by_url;
  for (auto& l : lines) by_url[l["url"].get<std::string>()] = l;
  EXPECT_EQ(by_url[base + "/page/a"]["status"], 200);
  EXPECT_EQ(by_url[base + "/page/a"]["bytes"], 6);
  EXPECT_EQ(by_url[base + "/big"]["bytes"], 300000);
  EXPECT_EQ(by_url[base + "/big"]["attempts"], 1);
  EXPECT_TRUE(by_url[base + "/big"]["error"].is_null());
  EXPECT_NE(r.err.find("3 of 3 URLs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("status: 200: 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("latency: p50"), std::string::npos) << r.err;

  // A 404 and a refused connection fail the run, unless --allow-failures.
  args = {"--no-progress",       "--retries",     "1", "--backoff", "10ms", base + "/missing",
          "http://127.0.0.1:1/", base + "/page/c"};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 1) << r.err;
  lines = json_lines(r.out);
  CO_ASSERT_EQ(lines.size(), 3u);
  for (auto& l : lines) {
    if (l["url"] == base + "/missing") {
      EXPECT_EQ(l["status"], 404);
      EXPECT_EQ(l["attempts"], 1);  // a 404 is not retried
    } else if (l["url"] == "http://127.0.0.1:1/") {
      EXPECT_TRUE(l["status"].is_null());
      EXPECT_EQ(l["attempts"], 2);
      EXPECT_NE(l["error"].get<std::string>().find("refused"), std::string::npos) << l;
    }
  }
  EXPECT_NE(r.err.find("failed: 2"), std::string::npos) << r.err;
  args.insert(args.begin(), "--allow-failures");
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 0);
  co_await srv.shutdown();
}

AIO_TEST(aio_fetch, retries_503_with_retry_after) {
  test_server ts;
  http::app_server srv = co_await http::start_app(ts.app, {.host = "127.0.0.1", .port = 0});
  const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
  std::vector<std::string> args = {"--no-progress", "--backoff", "5s", base + "/flaky/1",
                                   base + "/flaky/2"};
  ran r = co_await fetch_tool(args);  // Retry-After: 0 overrides the 5 s backoff
  EXPECT_EQ(r.rc, 0) << r.err;
  for (auto& l : json_lines(r.out)) {
    EXPECT_EQ(l["status"], 200);
    EXPECT_EQ(l["attempts"], 3);
    EXPECT_LT(l["elapsed"].get<double>(), 5.0);
  }
  // Out of retries: the last answer stands.
  args = {"--no-progress", "--retries", "1", "--backoff", "1ms", base + "/flaky/3"};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 1);
  auto lines = json_lines(r.out);
  CO_ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["status"], 503);
  EXPECT_EQ(lines[0]["attempts"], 2);
  co_await srv.shutdown();
}

AIO_TEST(aio_fetch, bodies_are_saved_to_files) {
  test_server ts;
  http::app_server srv = co_await http::start_app(ts.app, {.host = "127.0.0.1", .port = 0});
  const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
  const auto dir =
      std::filesystem::temp_directory_path() / ("aio-fetch-out-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::vector<std::string> args = {"--no-progress",  "-q",          "-o",
                                   dir.string(),     base + "/big", base + "/page/x",
                                   base + "/missing"};
  ran r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");  // -q
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    files[e.path().filename().string()] =
        std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  EXPECT_EQ(files.size(), 2u);  // no file for the 404, no .part left
  EXPECT_EQ(files["000000-big"], std::string(300000, 'b'));
  EXPECT_EQ(files["000001-x"], "page x");
  std::filesystem::remove_all(dir);
  co_await srv.shutdown();
}

AIO_TEST(aio_fetch, ctrl_c_stops_cleanly) {
  test_server ts;
  // The /slow handlers outlive their client: the shutdown cancels them soon.
  http::app_server srv =
      co_await http::start_app(ts.app, {.host = "127.0.0.1", .port = 0, .shutdown_timeout = 100ms});
  const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
  const auto dir =
      std::filesystem::temp_directory_path() / ("aio-fetch-int-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  aio::subprocess_options o;
  o.output = aio::stdio::pipe;
  o.error = aio::stdio::pipe;
  std::vector<std::string> args = {"--no-progress",      "-o",           dir.string(),
                                   base + "/page/first", base + "/slow", base + "/slow"};
  aio::process p = co_await aio::create_subprocess_exec(AIO_FETCH_BIN, std::move(args), o);
  std::string first = co_await p.out.readline();  // the fast one is done
  EXPECT_NE(first.find("/page/first"), std::string::npos);
  co_await aio::sleep(100ms);  // the slow ones are in flight, their .part files open
  p.send_signal(SIGINT);
  auto [out, err] = co_await p.communicate();
  EXPECT_EQ(co_await p.wait(), 130);
  EXPECT_EQ(out, "");  // the two slow ones never completed
  EXPECT_NE(err.find("interrupted: 1 of 3 URLs"), std::string::npos) << err;
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_EQ(left, std::vector<std::string>{"000000-first"});  // partial files removed
  std::filesystem::remove_all(dir);
  co_await srv.shutdown();
}

AIO_TEST(aio_fetch, against_nginx_plain_and_tls) {
  aio_test::nginx ng;
  co_await ng.start();
  const auto dir =
      std::filesystem::temp_directory_path() / ("aio-fetch-ng-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  // Plain and TLS (trusting nginx's certificate with --cacert), gzip decoded, a
  // redirect followed, the 5 MiB file streamed to disk.
  std::vector<std::string> args = {"--no-progress",
                                   "--cacert",
                                   (ng.dir / "cert.pem").string(),
                                   "-o",
                                   dir.string(),
                                   ng.base() + "/hello.txt",
                                   ng.tls_base() + "/text.txt",
                                   ng.base() + "/found",
                                   ng.tls_base() + "/big.bin"};
  ran r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  std::map<std::string, aio::json::value> by_url;
  for (auto& l : json_lines(r.out)) by_url[l["url"].get<std::string>()] = l;
  EXPECT_EQ(by_url[ng.base() + "/hello.txt"]["bytes"], 17);
  EXPECT_EQ(by_url[ng.tls_base() + "/text.txt"]["bytes"],
            std::filesystem::file_size(ng.dir / "www" / "text.txt"));
  EXPECT_EQ(by_url[ng.base() + "/found"]["status"], 200);
  EXPECT_EQ(by_url[ng.tls_base() + "/big.bin"]["bytes"], 5 * 1024 * 1024);
  EXPECT_EQ(std::filesystem::file_size(dir / "000003-big.bin"), 5u * 1024 * 1024);
  // Without --cacert the TLS URLs fail with a certificate error, the others succeed.
  args = {"--no-progress",         "-q", "--retries", "0", ng.tls_base() + "/hello.txt",
          ng.base() + "/hello.txt"};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("status: 200: 1, error: 1"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
  co_await ng.stop();
}

AIO_TEST(aio_fetch, usage_errors_say_what_to_fix) {
  std::vector<std::string> args = {"--concurrency", "zero", "http://x/"};
  ran r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--concurrency takes a whole number of at least 1, not \"zero\""),
            std::string::npos)
      << r.err;
  args = {"ftp://x/"};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not an http:// or https:// URL"), std::string::npos) << r.err;
  args = {};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no URLs"), std::string::npos) << r.err;
  args = {"--help"};
  r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("EXIT STATUS"), std::string::npos);
}

AIO_TEST(aio_fetch, the_demo_runs) {
  std::vector<std::string> args = {"--demo", "--demo-urls", "20", "--demo-latency", "5ms"};
  ran r = co_await fetch_tool(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("sequential (one by one)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20/20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("13 URLs, 15 retries: 8 succeeded only thanks to them, 1 failed."),
            std::string::npos)
      << r.out;
}

}  // namespace
