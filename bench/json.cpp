// SPDX-License-Identifier: MIT
// bench/json.cpp — aio::json against nlohmann::json on the same inputs, in one run.
//
//   build/release/bench/bench_json [--reps N] [--seconds S] [--write-inputs DIR]
//
// Inputs are generated here (no files): "api-1KiB", an API response of about 1 KiB, and
// "array-4MB", an array of 20,000 objects with strings, integers, floats, booleans, a
// nested object and nested arrays (about 4.4 MB, the shape DEPENDENCIES.md §2.2 measured).
// Methods, on each input:
//   nlohmann::parse        nlohmann::json::parse(text), the value then destroyed
//   aio::json::parse       simdjson DOM, then the nlohmann value built from its tape,
//                          then destroyed
//   ... (build only)       the same two with the destruction of the value not timed:
//                          freeing an nlohmann value costs about as much as building it,
//                          and is the same for both
//   aio::json::document    simdjson DOM into the document's own tape (no values built)
//   document+read          the same, then read fields through views (every "id" of the
//                          array; four fields of the API response)
//   simdjson (reference)   a reused simdjson::dom::parser, nothing else: the floor
//   dump / dump_to         serializing the parsed value (MB/s of output); dump_to
//                          appends to a reused buffer
// Each figure is the best of --reps repetitions (default 7) of about --seconds/--reps of
// CPU time, the repetitions of all methods interleaved. MB/s is input bytes (output bytes
// for dump) per second of CPU time of this thread (CLOCK_THREAD_CPUTIME_ID: user +
// system, as getrusage(RUSAGE_THREAD) but in nanoseconds), the steadier figure on a
// shared machine; wall-clock MB/s is printed beside it. Ratios are CPU-time ratios
// against the row named in the last column.
// --write-inputs DIR writes the inputs as files, for measuring other parsers (Python's
// json module: docs/json.md) on the same bytes.
#include <time.h>

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "aio/json.hpp"

namespace {

namespace json = aio::json;

// --- Inputs ------------------------------------------------------------------------------

std::string api_response() {
  return R"({
  "login": "octocat", "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==",
  "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
  "url": "https://api.github.com/users/octocat", "type": "User", "site_admin": false,
  "name": "The Octocat", "company": "@github", "blog": "https://github.blog",
  "location": "San Francisco", "email": null, "hireable": null,
  "bio": "A friendly mascot \u2014 likes \"cats\" and octopuses.", "public_repos": 8,
  "public_gists": 8, "followers": 14219, "following": 9,
  "created_at": "2011-01-25T18:44:36Z", "updated_at": "2024-06-22T11:25:12Z",
  "plan": {"name": "pro", "space": 976562499, "collaborators": 0, "private_repos": 9999},
  "scores": [0.25, 1.5, 3.14159, -2.75, 1e-3, 42.0],
  "repos": [
    {"id": 1296269, "name": "Hello-World", "stars": 2589, "fork": false, "topics": ["demo"]},
    {"id": 1300192, "name": "Spoon-Knife", "stars": 12436, "fork": true, "topics": []}
  ]
})";
}

std::string array_of_objects(int n) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> lat(-90, 90), lon(-180, 180), score(0, 1000);
  std::uniform_int_distribution<int> small(0, 9999);
  const char* cities[] = {"Paris", "Lagos", "Lima", "Osaka", "Perth", "Quito", "Oslo", "Pune"};
  const char* tags[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  std::string s = "[";
  char buf[512];
  for (int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf,
                  R"(%s{"id":%d,"name":"user %d","email":"user%d@example.com","active":%s,)"
                  R"("score":%.17g,"location":{"city":"%s","lat":%.6f,"lon":%.6f},)"
                  R"("tags":["%s","%s"],"history":[%d,%d,%d,%d],"ratio":%.4f})",
                  i ? "," : "", i, i, i, i % 3 ? "true" : "false", score(rng), cities[i % 8],
                  lat(rng), lon(rng), tags[i % 6], tags[(i + 2) % 6], small(rng), small(rng),
                  small(rng), small(rng), score(rng) / 1000);
    s += buf;
  }
  return s + "]";
}

// --- Measuring -------------------------------------------------------------------------------

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct figure {
  double cpu_per_op;   // seconds
  double wall_per_op;  // seconds
};

volatile std::size_t sink;

/// One repetition of a method: runs it for about `budget` seconds of CPU time and
/// returns the time per operation.
using repetition = std::function<figure(double budget)>;

/// Repetitions of `op` (whose result feeds a sink so that it is not optimised away).
repetition timed(std::function<std::size_t()> op) {
  return [op = std::move(op), iterations = std::size_t{0}](double budget) mutable {
    if (iterations == 0) {  // calibrate: how many operations make one repetition
      iterations = 1;
      for (;;) {
        double t0 = cpu_seconds();
        for (std::size_t i = 0; i < iterations; ++i) sink = sink + op();
        double t = cpu_seconds() - t0;
        if (t >= budget / 4) {
          iterations = std::max<std::size_t>(1, std::size_t(double(iterations) * budget / t));
          break;
        }
        iterations *= 2;
      }
    }
    double c0 = cpu_seconds(), w0 = wall_seconds();
    for (std::size_t i = 0; i < iterations; ++i) sink = sink + op();
    double c = cpu_seconds() - c0, w = wall_seconds() - w0;
    return figure{c / double(iterations), w / double(iterations)};
  };
}

/// Repetitions of making values with `make`, where only the making is timed: the values
/// are kept in a small batch and destroyed between timed stretches.
repetition timed_build_only(std::function<json::value()> make, std::size_t bytes) {
  return [make = std::move(make), bytes](double budget) {
    std::size_t batch = std::clamp<std::size_t>(8'000'000 / bytes, 1, 8);
    std::vector<json::value> values;
    values.reserve(batch);
    double cpu = 0, wall = 0;
    std::size_t ops = 0;
    while (cpu < budget) {
      double c0 = cpu_seconds(), w0 = wall_seconds();
      for (std::size_t i = 0; i < batch; ++i) values.push_back(make());
      cpu += cpu_seconds() - c0;
      wall += wall_seconds() - w0;
      ops += batch;
      values.clear();
    }
    return figure{cpu / double(ops), wall / double(ops)};
  };
}

struct row {
  std::string method;
  std::size_t bytes;  // per operation
  repetition rep;
  int baseline = -1;  // index of the row the ratio is against
  figure best{1e300, 1e300};
};

/// Runs the repetitions interleaved (rep 1 of every method, then rep 2 ...), so that a
/// busy stretch of a shared machine hits every method alike, and keeps the best of each.
void measure(std::vector<row>& rows, int reps, double seconds) {
  double budget = seconds / reps;
  for (row& r : rows) (void)r.rep(budget / 4);  // warm up (and calibrate)
  for (int i = 0; i < reps; ++i)
    for (row& r : rows) {
      figure f = r.rep(budget);
      r.best.cpu_per_op = std::min(r.best.cpu_per_op, f.cpu_per_op);
      r.best.wall_per_op = std::min(r.best.wall_per_op, f.wall_per_op);
    }
}

void print(const std::string& input, std::size_t size, const std::vector<row>& rows) {
  std::printf("\n%s (%zu bytes)\n", input.c_str(), size);
  std::printf("  %-30s %11s %12s %13s  %s\n", "method", "MB/s (cpu)", "MB/s (wall)", "cpu us/op",
              "cpu ratio");
  for (const row& r : rows) {
    std::printf("  %-30s %11.1f %12.1f %13.2f", r.method.c_str(),
                double(r.bytes) / r.best.cpu_per_op / 1e6,
                double(r.bytes) / r.best.wall_per_op / 1e6, r.best.cpu_per_op * 1e6);
    if (r.baseline >= 0) {
      const row& b = rows[std::size_t(r.baseline)];
      std::printf("  %6.2fx %s", b.best.cpu_per_op / r.best.cpu_per_op, b.method.c_str());
    }
    std::printf("\n");
  }
}

void run(const std::string& name, const std::string& text,
         const std::function<std::size_t(const json::document&)>& read, int reps, double seconds) {
  // The results must agree before they are timed.
  json::value expected = json::value::parse(text);
  if (json::parse(text) != expected) {
    std::fprintf(stderr, "%s: aio::json::parse differs from nlohmann::json::parse\n", name.c_str());
    std::exit(1);
  }
  std::string dumped = json::dump(expected);

  simdjson::dom::parser reused;
  std::string out;
  std::size_t n = text.size();
  std::vector<row> rows;
  rows.push_back({"nlohmann::parse", n, timed([&] { return json::value::parse(text).size(); })});
  rows.push_back({"aio::json::parse", n, timed([&] { return json::parse(text).size(); }), 0});
  rows.push_back({"nlohmann::parse (build only)", n,
                  timed_build_only([&] { return json::value::parse(text); }, n)});
  rows.push_back({"aio::json::parse (build only)", n,
                  timed_build_only([&] { return json::parse(text); }, n), 2});
  rows.push_back({"aio::json::document", n, timed([&] {
                    json::document doc(text);
                    return doc.root().is_object() ? std::size_t{1} : std::size_t{2};
                  }),
                  0});
  rows.push_back({"document+read", n, timed([&] {
                    json::document doc(text);
                    return read(doc);
                  }),
                  0});
  rows.push_back({"simdjson (reference)", n, timed([&] {
                    auto r = reused.parse(text.data(), text.size(), true);
                    return r.error() ? std::size_t{0} : std::size_t{1};
                  }),
                  0});
  rows.push_back({"dump", dumped.size(), timed([&] { return json::dump(expected).size(); })});
  rows.push_back({"dump_to (reused buffer)", dumped.size(), timed([&] {
                    out.clear();
                    json::dump_to(expected, out);
                    return out.size();
                  }),
                  7});
  measure(rows, reps, seconds);
  print(name, n, rows);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  double seconds = 2.0;
  const char* write_inputs = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::max(0.01, std::atof(argv[++i]));
    } else if (a == "--write-inputs" && i + 1 < argc) {
      write_inputs = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--reps N] [--seconds S] [--write-inputs DIR]\n", argv[0]);
      return 2;
    }
  }
  std::string small = api_response();
  std::string big = array_of_objects(20000);
  if (write_inputs) {
    std::ofstream(std::string(write_inputs) + "/api-1KiB.json", std::ios::binary) << small;
    std::ofstream(std::string(write_inputs) + "/array-4MB.json", std::ios::binary) << big;
  }
  std::printf("aio::json benchmark: simdjson %s (%s), nlohmann %d.%d.%d; best of %d, %.1f s each\n",
              SIMDJSON_STRINGIFY(SIMDJSON_VERSION),
              simdjson::get_active_implementation()->name().c_str(), NLOHMANN_JSON_VERSION_MAJOR,
              NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH, reps, seconds);

  run(
      "api-1KiB", small,
      [](const json::document& doc) {
        return std::size_t(doc["id"].get_int64()) + doc["login"].get_string().size() +
               std::size_t(doc["plan"]["space"].get_int64()) +
               doc["repos"][1]["name"].get_string().size();
      },
      reps, seconds);
  run(
      "array-4MB", big,
      [](const json::document& doc) {
        std::size_t sum = 0;
        for (json::view item : doc.root()) sum += std::size_t(item["id"].get_int64());
        return sum;
      },
      reps, seconds);
}
