// SPDX-License-Identifier: MIT
#include "fetch.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>
#include <system_error>

#include "aio/aio.hpp"
#include "aio/http/client.hpp"
#include "aio/json.hpp"
#include "aio/sync/rate_limiter.hpp"

namespace aio_fetch {

namespace http = aio::http;
using namespace std::chrono_literals;

std::chrono::milliseconds parse_duration(const std::string& text) {
  double v = 0;
  const char* b = text.data();
  const char* e = text.data() + text.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p == b || !(v >= 0) || !std::isfinite(v)) {
    throw std::invalid_argument("not a duration: \"" + text + "\" (try 10, 2.5s, 500ms, 1m)");
  }
  std::string_view unit(p, static_cast<std::size_t>(e - p));
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = v * 1000;
  } else if (unit == "ms") {
    ms = v;
  } else if (unit == "m") {
    ms = v * 60000;
  } else {
    throw std::invalid_argument("not a duration: \"" + text + "\" (units: ms, s, m)");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

std::string to_json_line(const result& r) {
  aio::json::value v = {
      {"url", r.url},
      {"status", r.status == 0 ? aio::json::value(nullptr) : aio::json::value(r.status)},
      {"bytes", r.bytes},
      {"elapsed", std::round(r.elapsed * 1e4) / 1e4},
      {"attempts", r.attempts},
      {"error", r.error.empty() ? aio::json::value(nullptr) : aio::json::value(r.error)}};
  if (!r.file.empty()) v["file"] = r.file;
  // Keys in the documented order (the value type sorts them).
  std::string line = "{\"url\":" + aio::json::dump(v["url"]) +
                     ",\"status\":" + aio::json::dump(v["status"]) +
                     ",\"bytes\":" + aio::json::dump(v["bytes"]) +
                     ",\"elapsed\":" + aio::json::dump(v["elapsed"]) +
                     ",\"attempts\":" + aio::json::dump(v["attempts"]) +
                     ",\"error\":" + aio::json::dump(v["error"]);
  if (!r.file.empty()) line += ",\"file\":" + aio::json::dump(v["file"]);
  line += "}";
  return line;
}

namespace {

double seconds_since(aio::time_point t0) {
  return std::chrono::duration<double>(aio::get_running_loop().time() - t0).count();
}

// A file being downloaded: written as NAME.part, renamed to NAME when complete, removed
// if the download does not complete (error, or cancellation by Ctrl-C).
class part_file {
 public:
  explicit part_file(std::string final_path) : final_(std::move(final_path)) {
    part_ = final_ + ".part";
    fd_ = ::open(part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "cannot create " + part_);
    }
  }
  part_file(const part_file&) = delete;
  part_file& operator=(const part_file&) = delete;
  ~part_file() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(part_.c_str());
    }
  }
  void write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "cannot write " + part_);
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void commit() {
    if (::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(part_.c_str());
      throw std::system_error(errno, std::generic_category(), "cannot write " + part_);
    }
    fd_ = -1;
    if (::rename(part_.c_str(), final_.c_str()) != 0) {
      ::unlink(part_.c_str());
      throw std::system_error(errno, std::generic_category(), "cannot rename " + part_);
    }
  }

 private:
  std::string final_, part_;
  int fd_ = -1;
};

// "0007-index.html": the index keeps names unique; the last path segment, made safe.
std::string file_name_for(std::size_t index, const std::string& url_text) {
  std::string last;
  try {
    http::url u(url_text);
    std::string path = u.path();
    auto slash = path.rfind('/');
    last = path.substr(slash + 1);
  } catch (const std::exception&) {
  }
  std::string safe;
  for (char c : last) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    safe.push_back(ok ? c : '_');
  }
  if (safe.empty() || safe == "." || safe == "..") safe = "index";
  if (safe.size() > 100) safe.resize(100);
  char prefix[24];
  std::snprintf(prefix, sizeof prefix, "%06zu-", index);
  return prefix + safe;
}

// Retry-After: delay-seconds, or (not parsed) an HTTP date: then the backoff is used.
std::optional<std::chrono::milliseconds> retry_after(const http::client_response& resp) {
  auto v = resp.headers().get("Retry-After");
  if (!v) return std::nullopt;
  double secs = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
  if (ec != std::errc() || p != v->data() + v->size() || secs < 0 || secs > 3600) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(secs * 1000));
}

bool retryable_status(int status) {
  return status == 429 || (status >= 500 && status <= 599);
}

struct shared_state {
  const options& opts;
  http::client_session session;
  std::optional<aio::rate_limiter> limiter;
  std::function<void(const result&)> done;
  std::size_t next = 0;
  std::mt19937_64 rng{std::random_device{}()};
};

std::chrono::milliseconds backoff_delay(shared_state& st, int attempt) {
  // Exponential with "equal jitter": half fixed, half uniform.
  double d = static_cast<double>(st.opts.backoff.count()) * std::pow(2.0, attempt - 1);
  d = std::min(d, static_cast<double>(st.opts.max_backoff.count()));
  std::uniform_real_distribution<double> u(0.0, d / 2);
  return std::chrono::milliseconds(static_cast<std::int64_t>(d / 2 + u(st.rng)));
}

http::request_options request_options_for(const options& o) {
  http::request_options r;
  for (const auto& [k, v] : o.headers) r.header(k, v);
  if (o.body) r.data(*o.body, "application/octet-stream");
  http::client_timeout t;
  t.total = o.timeout;
  t.sock_connect = o.connect_timeout;
  t.sock_read = o.read_timeout;
  r.timeout(t);
  return r;
}

// One URL, all its attempts.
aio::coro<result> fetch_one(shared_state& st, std::size_t index) {
  const options& o = st.opts;
  result r;
  r.index = index;
  r.url = o.urls[index];
  const aio::time_point t0 = aio::get_running_loop().time();
  for (int attempt = 1;; ++attempt) {
    r.attempts = attempt;
    r.status = 0;
    r.bytes = 0;
    r.error.clear();
    if (st.limiter) co_await st.limiter->acquire();
    std::optional<std::chrono::milliseconds> wait;
    std::string failure;
    try {
      http::client_response resp =
          co_await st.session.request(o.method, r.url, request_options_for(o));
      r.status = resp.status();
      if (retryable_status(r.status) && attempt <= o.retries) {
        wait = retry_after(resp);
        if (!wait) wait = backoff_delay(st, attempt);
        resp.close();
      } else {
        std::optional<part_file> file;
        if (!o.out_dir.empty() && resp.ok()) {
          r.file = o.out_dir + "/" + file_name_for(index, r.url);
          file.emplace(r.file);
        }
        for (;;) {
          std::string piece = co_await resp.read_chunk(256 * 1024);
          if (piece.empty()) break;
          r.bytes += piece.size();
          if (file) file->write(piece);
        }
        if (file) file->commit();
        if (!resp.ok()) r.file.clear();
      }
    } catch (const aio::timeout_error& e) {
      failure = std::string("timeout: ") + e.what();
    } catch (const std::system_error& e) {  // os errors, file errors
      failure = e.what();
    } catch (const http::client_error& e) {
      failure = e.what();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      r.status = 0;
      r.file.clear();
      if (attempt <= o.retries) {
        wait = backoff_delay(st, attempt);
      } else {
        r.error = std::move(failure);
        break;
      }
    }
    if (!wait) break;
    co_await aio::sleep(*wait);
  }
  r.elapsed = seconds_since(t0);
  co_return r;
}

aio::coro<void> worker(shared_state& st) {
  while (st.next < st.opts.urls.size()) {
    const std::size_t i = st.next++;
    result r = co_await fetch_one(st, i);
    st.done(r);
  }
}

http::session_options session_options_for(const options& o, const aio::ssl_context* ssl) {
  http::session_options s;
  s.limit = o.concurrency;
  s.limit_per_host = o.limit_per_host;
  s.timeout = http::client_timeout{};  // per request (request_options_for)
  s.ssl = ssl;
  s.max_redirects = 10;
  return s;
}

}  // namespace

aio::coro<void> fetch_all(const options& opts, std::function<void(const result&)> done) {
  if (opts.concurrency == 0) throw std::invalid_argument("--concurrency must be at least 1");
  std::optional<aio::ssl_context> ssl;
  if (opts.insecure || !opts.cafile.empty()) {
    ssl.emplace(aio::ssl_context::client());
    if (opts.insecure) ssl->set_verify(false);
    if (!opts.cafile.empty()) ssl->load_verify_locations(opts.cafile);
  }
  shared_state st{opts, http::client_session(session_options_for(opts, ssl ? &*ssl : nullptr)),
                  std::nullopt, std::move(done)};
  if (opts.rate > 0) {
    st.limiter.emplace(aio::rate_limiter_options{.rate = opts.rate, .burst = 1});
  }
  const std::size_t workers = std::min<std::size_t>(opts.concurrency, opts.urls.size());
  std::exception_ptr error;
  try {
    co_await aio::with_task_group([&](aio::task_group& tg) -> aio::coro<void> {
      for (std::size_t i = 0; i < workers; ++i) tg.create_task(worker(st));
      co_return;
    });
  } catch (...) {
    error = std::current_exception();
  }
  co_await st.session.close();
  if (error) std::rethrow_exception(error);
}

}  // namespace aio_fetch
