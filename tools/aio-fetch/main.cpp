// SPDX-License-Identifier: MIT
// aio-fetch — fetch many URLs concurrently: the program every asyncio guide builds
// (shared session, concurrency cap, per-host limit, rate limit, timeouts, retries with
// backoff and jitter), as a command-line tool. `aio-fetch --help` for the manual;
// `aio-fetch --demo` for the guides' "sequential vs threads vs async" table on a local
// server (what ./scripts/demo runs).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "aio/aio.hpp"
#include "demo.hpp"
#include "fetch.hpp"
#include "report.hpp"

namespace {

constexpr const char* usage_text = R"(NAME
    aio-fetch - fetch many URLs concurrently, with limits, timeouts and retries

SYNOPSIS
    aio-fetch [OPTIONS] URL...
    aio-fetch [OPTIONS] -i FILE            (one URL per line; "-" for stdin)
    aio-fetch --demo

DESCRIPTION
    Fetches every URL with one shared HTTP session (keep-alive connection pool, TLS,
    DNS cache) and at most --concurrency requests at a time. Each result is printed
    as one JSON line on standard output as soon as it completes:
        {"url":"...","status":200,"bytes":5120,"elapsed":0.0123,"attempts":1,"error":null}
    A progress bar (done/total, rate, errors, ETA) is drawn on standard error when it
    is a terminal; otherwise a progress line is printed every 2 seconds. A summary
    (counts by status, p50/p90/p99 latency, throughput) ends the run.

    Connection errors, timeouts, 429 and 5xx answers are retried with exponential
    backoff and jitter; a Retry-After header (in seconds) sets the delay instead.
    Ctrl-C stops cleanly: requests in flight are cancelled, partial files removed,
    and the summary printed.

OPTIONS
    -i, --input FILE        read URLs from FILE, one per line ("-": standard input;
                            blank lines and lines starting with # are skipped)
    -X, --method METHOD     request method (default GET)
    -H, --header "N: V"     add a request header (repeatable)
    -d, --data BODY         request body (@FILE reads it from FILE)
    -c, --concurrency N     requests in flight at once (default 20)
        --limit-per-host N  requests in flight to one host (default: no limit)
        --rate R            at most R requests per second ("10" or "10/s")
        --retries N         attempts after the first (default 3)
        --backoff DUR       delay before the first retry, doubling (default 200ms)
        --timeout DUR       limit for one attempt, body included (default 30s)
        --connect-timeout DUR   limit for connecting (default: within --timeout)
        --read-timeout DUR  limit for each read from the server (default: none)
    -o, --output-dir DIR    save each body (2xx/3xx) to DIR/NNNNNN-NAME, streamed to
                            disk as it arrives
    -q, --quiet             no JSON lines (progress and summary only)
        --no-progress       no progress display
        --allow-failures    exit 0 even if some URLs failed
    -k, --insecure          do not verify TLS certificates
        --cacert FILE       trust the CA certificates in FILE (PEM)
        --demo              run the built-in demonstration (no network needed)
    -h, --help              this text

    DUR is a number of seconds, or a number with ms, s or m ("500ms", "2.5s", "1m").

EXIT STATUS
    0 every URL answered with a status below 400 (or --allow-failures), 1 some
    failed, 2 bad usage, 130 interrupted by Ctrl-C.

EXAMPLES
    aio-fetch -c 50 --retries 5 https://example.com/a https://example.com/b
    aio-fetch -i urls.txt --rate 10/s --limit-per-host 4 -o pages/ > results.jsonl
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "aio-fetch: %s\n(aio-fetch --help for the options)\n", msg.c_str());
  std::exit(2);
}

unsigned parse_count(const std::string& opt, const std::string& v, unsigned min) {
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < static_cast<long>(min) || n > 1000000) {
    usage_error(opt + " takes a whole number of at least " + std::to_string(min) + ", not \"" + v +
                "\"");
  }
  return static_cast<unsigned>(n);
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    std::size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    out.push_back(line.substr(b));
  }
  return out;
}

struct cli {
  aio_fetch::options opts;
  bool quiet = false, no_progress = false, allow_failures = false, demo = false;
  aio_fetch::demo_options demo_opts;
  std::string demo_run;  // internal: one mode of the demo, in a child process
};

cli parse_args(int argc, char** argv) {
  cli c;
  std::string input;
  auto need = [&](int& i, const std::string& opt) -> std::string {
    if (i + 1 >= argc) usage_error(opt + " needs a value");
    return argv[++i];
  };
  auto dur = [&](const std::string& opt, const std::string& v) {
    try {
      return aio_fetch::parse_duration(v);
    } catch (const std::invalid_argument& e) {
      usage_error(opt + ": " + e.what());
    }
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else if (a == "-i" || a == "--input") {
      input = need(i, a);
    } else if (a == "-X" || a == "--method") {
      c.opts.method = need(i, a);
    } else if (a == "-H" || a == "--header") {
      std::string h = need(i, a);
      auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) usage_error("-H takes \"Name: value\"");
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      c.opts.headers.emplace_back(h.substr(0, colon), value);
    } else if (a == "-d" || a == "--data") {
      std::string d = need(i, a);
      if (d.starts_with("@")) {
        std::ifstream f(d.substr(1), std::ios::binary);
        if (!f) usage_error("cannot read " + d.substr(1));
        d.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
      c.opts.body = std::move(d);
    } else if (a == "-c" || a == "--concurrency") {
      c.opts.concurrency = parse_count(a, need(i, a), 1);
    } else if (a == "--limit-per-host") {
      c.opts.limit_per_host = parse_count(a, need(i, a), 1);
    } else if (a == "--rate") {
      std::string r = need(i, a);
      if (r.ends_with("/s")) r.resize(r.size() - 2);
      char* end = nullptr;
      double v = std::strtod(r.c_str(), &end);
      if (r.empty() || *end != '\0' || !(v > 0) || v > 1e6)
        usage_error("--rate takes requests per second, like 10 or 2.5/s");
      c.opts.rate = v;
    } else if (a == "--retries") {
      c.opts.retries = static_cast<int>(parse_count(a, need(i, a), 0));
    } else if (a == "--backoff") {
      c.opts.backoff = dur(a, need(i, a));
    } else if (a == "--timeout") {
      c.opts.timeout = dur(a, need(i, a));
    } else if (a == "--connect-timeout") {
      c.opts.connect_timeout = dur(a, need(i, a));
    } else if (a == "--read-timeout") {
      c.opts.read_timeout = dur(a, need(i, a));
    } else if (a == "-o" || a == "--output-dir") {
      c.opts.out_dir = need(i, a);
    } else if (a == "-q" || a == "--quiet") {
      c.quiet = true;
    } else if (a == "--no-progress") {
      c.no_progress = true;
    } else if (a == "--allow-failures") {
      c.allow_failures = true;
    } else if (a == "-k" || a == "--insecure") {
      c.opts.insecure = true;
    } else if (a == "--cacert") {
      c.opts.cafile = need(i, a);
    } else if (a == "--demo") {
      c.demo = true;
    } else if (a == "--demo-urls") {
      c.demo_opts.urls = parse_count(a, need(i, a), 1);
    } else if (a == "--demo-latency") {
      c.demo_opts.latency = dur(a, need(i, a));
    } else if (a == "--demo-run") {
      c.demo_run = need(i, a);
    } else if (a == "--demo-port") {
      c.demo_opts.port = static_cast<std::uint16_t>(parse_count(a, need(i, a), 1));
    } else if (a.starts_with("-") && a != "-") {
      usage_error("unknown option " + a);
    } else {
      c.opts.urls.push_back(a);
    }
  }
  if (!input.empty()) {
    if (input == "-") {
      auto more = read_lines(std::cin);
      c.opts.urls.insert(c.opts.urls.end(), more.begin(), more.end());
    } else {
      std::ifstream f(input);
      if (!f) usage_error("cannot read the URL list " + input);
      auto more = read_lines(f);
      c.opts.urls.insert(c.opts.urls.end(), more.begin(), more.end());
    }
  }
  return c;
}

aio::coro<int> fetch_main(cli& c) {
  const bool tty = !c.no_progress && ::isatty(STDERR_FILENO);
  aio_fetch::reporter rep(c.opts.urls.size(), !c.quiet, tty, !c.no_progress && !tty);
  bool interrupted = false;
  try {
    co_await aio_fetch::fetch_all(c.opts, [&](const aio_fetch::result& r) { rep.add(r); });
  } catch (const aio::cancelled_error&) {
    interrupted = true;  // Ctrl-C: the workers have stopped and cleaned up
  }
  rep.finish(interrupted);
  if (interrupted) co_return 130;
  co_return rep.failed() > 0 && !c.allow_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli c = parse_args(argc, argv);
  try {
    if (!c.demo_run.empty()) return aio_fetch::demo_run(c.demo_run, c.demo_opts);
    if (c.demo) return aio_fetch::demo(argv[0], c.demo_opts);
    if (c.opts.urls.empty()) usage_error("no URLs (give them as arguments, or with -i FILE)");
    for (const std::string& u : c.opts.urls) {
      if (!u.starts_with("http://") && !u.starts_with("https://"))
        usage_error("not an http:// or https:// URL: \"" + u + "\"");
    }
    if (!c.opts.out_dir.empty()) {
      struct stat st {};
      if (::stat(c.opts.out_dir.c_str(), &st) != 0 && ::mkdir(c.opts.out_dir.c_str(), 0755) != 0)
        usage_error("cannot create the output directory " + c.opts.out_dir + ": " +
                    std::strerror(errno));
    }
    return aio::run(fetch_main(c));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aio-fetch: %s\n", e.what());
    return 2;
  }
}
