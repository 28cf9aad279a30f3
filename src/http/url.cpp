// SPDX-License-Identifier: MIT
#include "aio/http/url.hpp"

#include <charconv>

#include "aio/http/errors.hpp"
#include "aio/http/headers.hpp"

namespace aio::http {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool unreserved(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Path, query and fragment characters are kept as given, except those that may not
// appear in a URL at all (space, controls, non-ASCII, "<>\^`{|}), which are
// percent-encoded, as browsers and yarl do.
std::string requote(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
        c == '`' || c == '{' || c == '|' || c == '}') {
      out.push_back('%');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  }
  return out;
}

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw invalid_url("invalid URL \"" + std::string(text) + "\": " + why);
}

// RFC 3986 §5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      std::size_t next = in.find('/', in[0] == '/' ? 1 : 0);
      if (next == std::string_view::npos) next = in.size();
      out.append(in.substr(0, next));
      in.remove_prefix(next);
    }
  }
  return out;
}

struct reference_parts {
  std::string_view path, query, fragment;
  bool has_query = false, has_fragment = false;
};

reference_parts split_reference(std::string_view s) {
  reference_parts r;
  if (auto h = s.find('#'); h != std::string_view::npos) {
    r.fragment = s.substr(h + 1);
    r.has_fragment = true;
    s = s.substr(0, h);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    r.query = s.substr(q + 1);
    r.has_query = true;
    s = s.substr(0, q);
  }
  r.path = s;
  return r;
}

}  // namespace

url::url(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  const auto colon = s.find("://");
  if (colon == std::string_view::npos || colon == 0) bad(text, "no scheme (http:// or https://)");
  scheme_ = lower(s.substr(0, colon));
  std::uint16_t default_port = 0;
  if (scheme_ == "http" || scheme_ == "ws") {
    default_port = 80;
  } else if (scheme_ == "https" || scheme_ == "wss") {
    default_port = 443;
  } else {
    bad(text, "unsupported scheme \"" + scheme_ + "\"");
  }
  s.remove_prefix(colon + 3);
  const auto auth_end = s.find_first_of("/?#");
  std::string_view authority = s.substr(0, auth_end);
  std::string_view rest =
      auth_end == std::string_view::npos ? std::string_view{} : s.substr(auth_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto c = info.find(':');
    user_ = unquote(info.substr(0, c));
    if (c != std::string_view::npos) password_ = unquote(info.substr(c + 1));
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad(text, "unclosed '[' in the host");
    host_ = lower(authority.substr(1, close - 1));
    ipv6_ = true;
    if (host_.empty() || host_.find_first_not_of("0123456789abcdef:.") != std::string::npos)
      bad(text, "invalid IPv6 address");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') bad(text, "unexpected characters after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) bad(text, "empty port");
    }
  } else {
    auto c = authority.rfind(':');
    if (c != std::string_view::npos) {
      port_text = authority.substr(c + 1);
      if (port_text.empty()) bad(text, "empty port");
      authority = authority.substr(0, c);
    }
    host_ = lower(unquote(authority));
  }
  if (host_.empty()) bad(text, "no host");
  for (char ch : host_) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || ch == '/' || ch == '\\' || ch == '@' || ch == '#' || ch == '?' ||
        ch == '%' || (ch == ':' && !ipv6_) || ch == '[' || ch == ']')
      bad(text, "invalid character in the host");
  }
  port_ = default_port;
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || v == 0 || v > 65535)
      bad(text, "invalid port \"" + std::string(port_text) + "\"");
    port_ = static_cast<std::uint16_t>(v);
  }
  reference_parts parts = split_reference(rest);
  path_ = parts.path.empty() ? std::string("/") : requote(remove_dot_segments(parts.path));
  if (path_.empty()) path_ = "/";
  query_ = requote(parts.query);
  fragment_ = requote(parts.fragment);
}

bool url::is_default_port() const noexcept {
  return port_ == (secure() ? 443 : 80);
}

query_params url::query() const {
  return parse_query(query_);
}

std::string url::target() const {
  if (query_.empty()) return path_;
  std::string t;
  t.reserve(path_.size() + 1 + query_.size());
  t.append(path_).push_back('?');
  t.append(query_);
  return t;
}

std::string url::host_header() const {
  std::string h = ipv6_ ? "[" + host_ + "]" : host_;
  if (!is_default_port()) h += ":" + std::to_string(port_);
  return h;
}

std::string url::origin() const {
  return scheme_ + "://" + host_header();
}

std::string url::str() const {
  if (host_.empty()) return {};
  std::string s = scheme_ + "://";
  if (!user_.empty() || !password_.empty()) {
    s += quote(user_, "");
    if (!password_.empty()) s += ":" + quote(password_, "");
    s += "@";
  }
  s += host_header();
  s += target();
  if (!fragment_.empty()) s += "#" + fragment_;
  return s;
}

url url::join(std::string_view reference) const {
  std::string_view ref = reference;
  // An absolute reference: scheme ":" first (letters, digits, + - . before the colon).
  auto colon = ref.find(':');
  if (colon != std::string_view::npos && colon > 0 && ref.find_first_of("/?#") > colon) {
    return url(ref);
  }
  if (ref.starts_with("//")) return url(scheme_ + ":" + std::string(ref));
  url u = *this;
  reference_parts r = split_reference(ref);
  if (r.path.empty()) {
    if (r.has_query) u.query_ = requote(r.query);
  } else {
    std::string merged;
    if (r.path.starts_with('/')) {
      merged = std::string(r.path);
    } else {
      merged = path_.substr(0, path_.rfind('/') + 1);
      merged += r.path;
    }
    u.path_ = requote(remove_dot_segments(merged));
    if (u.path_.empty()) u.path_ = "/";
    u.query_ = requote(r.query);
  }
  u.fragment_ = requote(r.fragment);
  return u;
}

url url::with_query(const query_params& params) const {
  url u = *this;
  u.query_ = encode_query(params);
  return u;
}

url url::extend_query(const query_params& params) const {
  if (params.empty()) return *this;
  url u = *this;
  std::string extra = encode_query(params);
  u.query_ = query_.empty() ? extra : query_ + "&" + extra;
  return u;
}

url url::with_fragment(std::string_view fragment) const {
  url u = *this;
  u.fragment_ = requote(fragment);
  return u;
}

url url::without_userinfo() const {
  url u = *this;
  u.user_.clear();
  u.password_.clear();
  return u;
}

std::string quote(std::string_view s, std::string_view safe) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || safe.find(ch) != std::string_view::npos) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 15]);
    }
  }
  return out;
}

std::string quote_plus(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) {
      out.push_back(ch);
    } else if (ch == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 15]);
    }
  }
  return out;
}

std::string unquote(std::string_view s, bool plus) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus && c == '+' ? ' ' : c);
  }
  return out;
}

query_params parse_query(std::string_view qs) {
  query_params out;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    std::string_view pair = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    out.emplace_back(unquote(pair.substr(0, eq), true), eq == std::string_view::npos
                                                            ? std::string()
                                                            : unquote(pair.substr(eq + 1), true));
  }
  return out;
}

std::string encode_query(const query_params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += quote_plus(k);
    out.push_back('=');
    out += quote_plus(v);
  }
  return out;
}

}  // namespace aio::http
