// SPDX-License-Identifier: MIT
// The HTTP client's cookie jar (RFC 6265, aiohttp's CookieJar).
#include <algorithm>
#include <charconv>
#include <ctime>

#include "aio/http/client.hpp"

namespace aio::http {

namespace {

using sys_clock = std::chrono::system_clock;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_ip_address(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (!is_digit(c)) {
      return false;
    }
  }
  return dots == 3;
}

bool domain_match(std::string_view host, std::string_view domain) {
  if (host == domain) return true;
  if (is_ip_address(host)) return false;
  return host.size() > domain.size() && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

bool path_match(std::string_view request_path, std::string_view cookie_path) {
  if (request_path == cookie_path) return true;
  if (!request_path.starts_with(cookie_path)) return false;
  return cookie_path.ends_with('/') || request_path[cookie_path.size()] == '/';
}

// RFC 6265 §5.1.4.
std::string default_path(std::string_view uri_path) {
  if (uri_path.empty() || uri_path.front() != '/') return "/";
  auto last = uri_path.rfind('/');
  if (last == 0) return "/";
  return std::string(uri_path.substr(0, last));
}

bool date_delimiter(unsigned char c) {
  return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
         (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

// Leading digits of `t` (at most `max`), at least `min`; -1 if not so.
int leading_number(std::string_view t, std::size_t min, std::size_t max, std::size_t& used) {
  std::size_t n = 0;
  while (n < t.size() && is_digit(t[n])) ++n;
  if (n < min || n > max) return -1;
  used = n;
  int v = 0;
  std::from_chars(t.data(), t.data() + n, v);
  return v;
}

}  // namespace

namespace detail {

// RFC 6265 §5.1.1: the lenient cookie date algorithm (IMF-fixdate, RFC 850, asctime and
// what servers really send).
std::optional<sys_clock::time_point> parse_cookie_date(std::string_view s) {
  bool found_time = false, found_day = false, found_month = false, found_year = false;
  int hour = 0, minute = 0, second = 0, day = 0, month = 0, year = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && date_delimiter(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !date_delimiter(static_cast<unsigned char>(s[j]))) ++j;
    std::string_view tok = s.substr(i, j - i);
    i = j;
    if (tok.empty()) continue;
    std::size_t used = 0;
    if (!found_time) {
      // 1*2DIGIT ":" 1*2DIGIT ":" 1*2DIGIT ( non-digit *OCTET )
      std::string_view t = tok;
      int h = leading_number(t, 1, 2, used);
      if (h >= 0 && used < t.size() && t[used] == ':') {
        t.remove_prefix(used + 1);
        int m = leading_number(t, 1, 2, used);
        if (m >= 0 && used < t.size() && t[used] == ':') {
          t.remove_prefix(used + 1);
          int sec = leading_number(t, 1, 2, used);
          if (sec >= 0) {
            found_time = true;
            hour = h;
            minute = m;
            second = sec;
            continue;
          }
        }
      }
    }
    if (!found_day) {
      int d = leading_number(tok, 1, 2, used);
      if (d >= 0 && (used == tok.size() || !is_digit(tok[used]))) {
        found_day = true;
        day = d;
        continue;
      }
    }
    if (!found_month && tok.size() >= 3) {
      static constexpr std::string_view months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                    "jul", "aug", "sep", "oct", "nov", "dec"};
      const std::string m = lower(tok.substr(0, 3));
      bool hit = false;
      for (int k = 0; k < 12; ++k) {
        if (m == months[k]) {
          found_month = true;
          month = k + 1;
          hit = true;
          break;
        }
      }
      if (hit) continue;
    }
    if (!found_year) {
      int y = leading_number(tok, 2, 4, used);
      if (y >= 0 && (used == tok.size() || !is_digit(tok[used]))) {
        found_year = true;
        year = y;
        continue;
      }
    }
  }
  if (!(found_time && found_day && found_month && found_year)) return std::nullopt;
  if (year >= 70 && year <= 99) year += 1900;
  if (year >= 0 && year <= 69) year += 2000;
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59)
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = timegm(&tm);
  return sys_clock::from_time_t(t);
}

}  // namespace detail

void cookie_jar::store(cookie c) {
  const bool expired = c.expires && *c.expires <= sys_clock::now();
  auto same = std::find_if(cookies_.begin(), cookies_.end(), [&](const cookie& o) {
    return o.name == c.name && o.domain == c.domain && o.path == c.path;
  });
  if (expired) {
    if (same != cookies_.end()) cookies_.erase(same);
    return;
  }
  if (same != cookies_.end()) {
    *same = std::move(c);
  } else {
    cookies_.push_back(std::move(c));
  }
}

bool cookie_jar::set_cookie(std::string_view v, const url& from) {
  const std::string& host = from.host();
  if (host.empty()) return false;
  if (!unsafe_ && is_ip_address(host)) return false;
  auto semi = v.find(';');
  std::string_view pair = trim(v.substr(0, semi));
  std::string_view attrs = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
  auto eq = pair.find('=');
  if (eq == std::string_view::npos) return false;
  cookie c;
  c.name = std::string(trim(pair.substr(0, eq)));
  c.value = std::string(trim(pair.substr(eq + 1)));
  if (c.name.empty()) return false;
  std::optional<std::string> domain_attr;
  std::optional<sys_clock::time_point> expires, max_age;
  std::string path_attr;
  while (!attrs.empty()) {
    auto next = attrs.find(';');
    std::string_view av = trim(attrs.substr(0, next));
    attrs = next == std::string_view::npos ? std::string_view{} : attrs.substr(next + 1);
    auto aeq = av.find('=');
    const std::string key = lower(trim(av.substr(0, aeq)));
    std::string_view val =
        aeq == std::string_view::npos ? std::string_view{} : trim(av.substr(aeq + 1));
    if (key == "domain") {
      if (val.starts_with('.')) val.remove_prefix(1);
      if (!val.empty()) domain_attr = lower(val);
    } else if (key == "path") {
      path_attr = std::string(val);
    } else if (key == "max-age") {
      long long secs = 0;
      std::string_view digits = val;
      const bool neg = digits.starts_with('-');
      if (neg) digits.remove_prefix(1);
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), secs);
      if (ec == std::errc() && p == digits.data() + digits.size() && !digits.empty()) {
        if (neg || secs == 0) {
          max_age = sys_clock::time_point::min() + std::chrono::seconds(1);
        } else {
          secs = std::min<long long>(secs, 400LL * 24 * 3600 * 365);
          max_age = sys_clock::now() + std::chrono::seconds(secs);
        }
      }
    } else if (key == "expires") {
      expires = detail::parse_cookie_date(val);
    } else if (key == "secure") {
      c.secure = true;
    } else if (key == "httponly") {
      c.http_only = true;
    }
  }
  if (domain_attr && *domain_attr != host) {
    // Without a public-suffix list: the domain must contain a dot and the host must be
    // a subdomain of it; an IP host only accepts its own address.
    if (is_ip_address(host) || domain_attr->find('.') == std::string::npos ||
        !domain_match(host, *domain_attr))
      return false;
    c.domain = *domain_attr;
    c.host_only = false;
  } else {
    c.domain = host;
    c.host_only = !domain_attr.has_value();
  }
  c.path = path_attr.starts_with('/') ? path_attr : default_path(from.path());
  c.expires = max_age ? max_age : expires;
  store(std::move(c));
  return true;
}

void cookie_jar::update(const http::headers& response_headers, const url& response_url) {
  for (std::string_view v : response_headers.get_all("Set-Cookie")) set_cookie(v, response_url);
}

void cookie_jar::update(const query_params& pairs, const url& response_url) {
  for (const auto& [name, value] : pairs) {
    cookie c;
    c.name = name;
    c.value = value;
    if (!response_url.empty()) {
      if (!unsafe_ && is_ip_address(response_url.host())) continue;
      c.domain = response_url.host();
    }
    store(std::move(c));
  }
}

query_params cookie_jar::filter_cookies(const url& request_url) const {
  const auto now = sys_clock::now();
  const std::string& host = request_url.host();
  const bool secure = request_url.secure();
  const bool ip = is_ip_address(host);
  std::vector<const cookie*> hits;
  for (const cookie& c : cookies_) {
    if (c.expires && *c.expires <= now) continue;
    if (!c.domain.empty()) {
      if (ip && !unsafe_) continue;
      if (c.host_only ? host != c.domain : !domain_match(host, c.domain)) continue;
    }
    if (!path_match(request_url.path(), c.path)) continue;
    if (c.secure && !secure) continue;
    hits.push_back(&c);
  }
  std::stable_sort(hits.begin(), hits.end(), [](const cookie* a, const cookie* b) {
    return a->path.size() > b->path.size();
  });
  query_params out;
  out.reserve(hits.size());
  for (const cookie* c : hits) out.emplace_back(c->name, c->value);
  return out;
}

std::string cookie_jar::cookie_header(const url& request_url) const {
  std::string out;
  for (const auto& [name, value] : filter_cookies(request_url)) {
    if (!out.empty()) out += "; ";
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

void cookie_jar::clear_domain(std::string_view domain) {
  const std::string d = lower(domain);
  std::erase_if(cookies_, [&](const cookie& c) { return domain_match(c.domain, d); });
}

const std::vector<cookie>& cookie_jar::cookies() {
  const auto now = sys_clock::now();
  std::erase_if(cookies_, [&](const cookie& c) { return c.expires && *c.expires <= now; });
  return cookies_;
}

}  // namespace aio::http
