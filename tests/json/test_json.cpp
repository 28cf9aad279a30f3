// SPDX-License-Identifier: MIT
#include "aio/json.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace json = aio::json;
using namespace std::string_literals;
using namespace std::string_view_literals;

static_assert(std::is_same_v<json::value, nlohmann::json>);
static_assert(std::is_base_of_v<std::invalid_argument, json::error>);
static_assert(std::is_base_of_v<json::error, json::decode_error>);
static_assert(std::is_base_of_v<json::error, json::type_error>);
static_assert(std::is_base_of_v<json::error, json::key_error>);
static_assert(std::is_base_of_v<json::error, json::index_error>);
static_assert(std::is_nothrow_copy_constructible_v<json::decode_error>);
static_assert(std::is_nothrow_copy_constructible_v<json::key_error>);
// A view is a small handle; only a document makes one.
static_assert(std::is_trivially_copyable_v<json::view>);
static_assert(sizeof(json::view) <= 2 * sizeof(void*));
static_assert(!std::is_default_constructible_v<json::view>);
static_assert(std::ranges::forward_range<json::view>);
static_assert(std::ranges::forward_range<json::view::items_range>);
static_assert(std::is_same_v<std::ranges::range_value_t<json::view>, json::view>);
// A document is move-only, and views cannot be taken from a temporary one.
static_assert(!std::is_copy_constructible_v<json::document>);
static_assert(std::is_nothrow_move_constructible_v<json::document>);
template <class Document>
concept gives_views = requires(Document&& d) {
  std::forward<Document>(d)["k"];
  std::forward<Document>(d)[0];
  std::forward<Document>(d).root();
  std::forward<Document>(d).find("k");
};
static_assert(gives_views<const json::document&>);
static_assert(gives_views<json::document&>);
static_assert(!gives_views<json::document>);  // `document(text)["k"]` would dangle
static_assert(!gives_views<json::document&&>);

namespace {

/// The decode_error that parse(text) throws (fails the test if it throws none).
json::decode_error parse_error(std::string_view text) {
  try {
    json::value v = json::parse(text);
    ADD_FAILURE() << "parse accepted " << testing::PrintToString(std::string(text)) << " as "
                  << v.dump();
  } catch (const json::decode_error& e) {
    return e;
  }
  return json::decode_error("no error", std::nullopt);
}

/// The same for document(text).
json::decode_error document_error(std::string_view text) {
  try {
    json::document doc(text);
    ADD_FAILURE() << "document accepted " << testing::PrintToString(std::string(text));
  } catch (const json::decode_error& e) {
    return e;
  }
  return json::decode_error("no error", std::nullopt);
}

bool nlohmann_accepts(std::string_view text) {
  try {
    json::value v = json::value::parse(text);
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::string nested(std::size_t depth, std::string_view inner = "1") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

// --- parse: every type, and agreement with nlohmann::json::parse -----------------------

TEST(json_parse, reads_every_json_type) {
  json::value v = json::parse(
      R"({"null": null, "t": true, "f": false, "i": 42, "n": -7, "d": 2.5, "s": "hi",
          "a": [1, "two", [3]], "o": {"k": {}}, "e": []})");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.size(), 10u);
  EXPECT_TRUE(v["null"].is_null());
  EXPECT_EQ(v["t"], true);
  EXPECT_EQ(v["f"], false);
  EXPECT_TRUE(v["i"].is_number_unsigned());  // as nlohmann::json::parse
  EXPECT_EQ(v["i"].get<int>(), 42);
  EXPECT_TRUE(v["n"].is_number_integer());
  EXPECT_EQ(v["n"].get<int>(), -7);
  EXPECT_TRUE(v["d"].is_number_float());
  EXPECT_EQ(v["d"].get<double>(), 2.5);
  EXPECT_EQ(v["s"].get<std::string>(), "hi");
  ASSERT_TRUE(v["a"].is_array());
  EXPECT_EQ(v["a"].size(), 3u);
  EXPECT_EQ(v["a"][1], "two");
  EXPECT_EQ(v["a"][2][0], 3);
  EXPECT_TRUE(v["o"]["k"].is_object());
  EXPECT_TRUE(v["o"]["k"].empty());
  EXPECT_TRUE(v["e"].is_array());
  EXPECT_TRUE(v["e"].empty());
}

TEST(json_parse, top_level_scalars_and_whitespace) {
  EXPECT_EQ(json::parse("42"), 42);
  EXPECT_EQ(json::parse(" \t\r\n\"s\" \n"), "s");
  EXPECT_TRUE(json::parse("null").is_null());
  EXPECT_EQ(json::parse("false"), false);
  EXPECT_EQ(json::parse("[]"), json::value::array());
  EXPECT_EQ(json::parse("{}"), json::value::object());
}

TEST(json_parse, integers_keep_their_exact_values_and_nlohmann_kinds) {
  constexpr auto i64min = std::numeric_limits<std::int64_t>::min();
  constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
  constexpr auto u64max = std::numeric_limits<std::uint64_t>::max();

  json::value v = json::parse("-9223372036854775808");
  EXPECT_TRUE(v.is_number_integer());
  EXPECT_EQ(v.get<std::int64_t>(), i64min);

  v = json::parse("9223372036854775807");
  EXPECT_TRUE(v.is_number_unsigned());
  EXPECT_EQ(v.get<std::int64_t>(), i64max);

  v = json::parse("9223372036854775808");  // beyond int64
  EXPECT_TRUE(v.is_number_unsigned());
  EXPECT_EQ(v.get<std::uint64_t>(), std::uint64_t{i64max} + 1);

  v = json::parse("18446744073709551615");
  EXPECT_TRUE(v.is_number_unsigned());
  EXPECT_EQ(v.get<std::uint64_t>(), u64max);

  v = json::parse("-0");
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(v.is_number_float());
  v = json::parse("-0.0");
  EXPECT_TRUE(v.is_number_float());
  EXPECT_TRUE(std::signbit(v.get<double>()));
}

TEST(json_parse, integers_beyond_64_bits_become_doubles_as_in_nlohmann) {
  json::value v = json::parse("18446744073709551616");
  EXPECT_TRUE(v.is_number_float());
  EXPECT_EQ(v.get<double>(), 18446744073709551616.0);

  v = json::parse("-9223372036854775809");
  EXPECT_TRUE(v.is_number_float());
  EXPECT_EQ(v.get<double>(), -9223372036854775809.0);

  std::string text = R"({"a": [1, 123456789012345678901234567890, "x"], "b": -2})";
  v = json::parse(text);
  EXPECT_EQ(v, json::value::parse(text));
  EXPECT_TRUE(v["a"][1].is_number_float());
  EXPECT_EQ(v["a"][1].get<double>(), 1.2345678901234568e29);
  EXPECT_EQ(v["b"], -2);
}

TEST(json_parse, big_integer_fallback_still_enforces_the_rules) {
  // The big integer sends parse() down nlohmann's path; the depth limit and the strict
  // end of input must hold there too.
  std::string deep = "[123456789012345678901234567890," + nested(2000) + "]";
  ASSERT_TRUE(nlohmann_accepts(deep));
  json::decode_error e = parse_error(deep);
  EXPECT_NE(std::string(e.what()).find("nesting deeper than 1024 levels"), std::string::npos)
      << e.what();

  std::string nul = "[123456789012345678901234567890]\0garbage"s;
  ASSERT_TRUE(nlohmann_accepts(nul));  // nlohmann stops at the NUL: we must not
  e = parse_error(nul);
  EXPECT_EQ(e.position(), 32u) << e.what();
  EXPECT_NE(std::string(e.what()).find("unexpected byte 0x00"), std::string::npos) << e.what();
}

TEST(json_parse, floating_point_numbers) {
  EXPECT_EQ(json::parse("1E2").get<double>(), 100.0);
  EXPECT_TRUE(json::parse("1E2").is_number_float());
  EXPECT_EQ(json::parse("-1.5e-3").get<double>(), -0.0015);
  EXPECT_EQ(json::parse("1.7976931348623157e308").get<double>(),
            std::numeric_limits<double>::max());
  EXPECT_EQ(json::parse("4.9e-324").get<double>(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(json::parse("1e-400").get<double>(), 0.0);  // underflows to zero, as strtod
  EXPECT_EQ(json::parse("0.1").get<double>(), 0.1);
  EXPECT_EQ(json::parse("0.30000000000000004").get<double>(), 0.1 + 0.2);
}

TEST(json_parse, string_escapes) {
  EXPECT_EQ(json::parse(R"("\" \\ \/ \b \f \n \r \t")"), "\" \\ / \b \f \n \r \t");
  EXPECT_EQ(json::parse(R"("\u0041\u00e9\u20AC")"), "A\xC3\xA9\xE2\x82\xAC");  // A é €
  json::value nul = json::parse(R"("a\u0000b")");
  EXPECT_EQ(nul.get<std::string>(), "a\0b"s);
  EXPECT_EQ(nul.get<std::string>().size(), 3u);
}

TEST(json_parse, surrogate_pairs_become_one_code_point) {
  EXPECT_EQ(json::parse(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");  // U+1F600
  EXPECT_EQ(json::parse(R"("\uD834\uDD1E")"), "\xF0\x9D\x84\x9E");  // U+1D11E
  EXPECT_EQ(json::parse("\"\xF0\x9F\x98\x80 caf\xC3\xA9\""), "\xF0\x9F\x98\x80 caf\xC3\xA9");
  EXPECT_EQ(json::parse(R"({"\u00e9": 1})").begin().key(), "\xC3\xA9");
}

TEST(json_parse, lone_surrogates_are_errors) {
  for (std::string_view text : {R"("\ud800")"sv, R"("\udc00")"sv, R"("\ud800\u0041")"sv,
                                R"("\ud800x")"sv, R"("\ude00\ud83d")"sv})
    parse_error(text);
}

TEST(json_parse, duplicate_keys_last_one_wins) {
  EXPECT_EQ(json::parse(R"({"a": 1, "b": 2, "a": 3})"), json::parse(R"({"a": 3, "b": 2})"));
  EXPECT_EQ(json::parse(R"({"a": {"x": 1}, "a": [2]})")["a"], json::parse("[2]"));
}

TEST(json_parse, a_leading_byte_order_mark_is_skipped) {
  EXPECT_EQ(json::parse("\xEF\xBB\xBF{\"a\": 1}"), json::parse(R"({"a": 1})"));
  json::decode_error e = parse_error("\xEF\xBB\xBF[1,]");
  EXPECT_EQ(e.position(), 6u) << e.what();     // positions count the mark
  parse_error("\xEF\xBB\xBF\xEF\xBB\xBF[1]");  // only one
  parse_error("[1]\xEF\xBB\xBF");
}

TEST(json_parse, agrees_with_nlohmann_on_a_corpus) {
  const char* corpus[] = {
      R"({"id": 1, "name": "x", "tags": ["a", "b"], "price": 9.99, "ok": true, "next": null})",
      R"([[], {}, [[]], [{}], {"": ""}, {" ": [null]}])",
      R"([0, -1, 1e0, 1E+1, 1e-1, 0.5, -0.5, 123456789, -123456789, 3.141592653589793])",
      R"(["\u0000\u001f", "\t", "\\", "\"", "\/", "\u00ff", "\uffff", "\ud800\udc00"])",
      R"({"z": 1, "a": 2, "m": {"y": [1, {"b": false}], "c": true}})",
      "[1.0, 2.50, 1e22, 1e23, 5e-324, 2.2250738585072014e-308]",
      "\"\xE2\x82\xAC\xF0\x90\x8D\x88\xC3\xA9\"",
      "  [  1 ,\n 2 \r\n, 3\t]  ",
  };
  for (const char* text : corpus) {
    json::value ours = json::parse(text);
    json::value theirs = json::value::parse(text);
    EXPECT_EQ(ours, theirs) << text;
    EXPECT_EQ(ours.dump(), theirs.dump()) << text;
  }
}

// --- parse: errors -----------------------------------------------------------------------

TEST(json_parse, decode_error_gives_the_byte_and_the_reason) {
  json::decode_error e = parse_error(R"({"a" 1})");
  ASSERT_TRUE(e.position().has_value());
  EXPECT_EQ(*e.position(), 5u);  // the '1', where ':' was expected
  std::string what = e.what();
  EXPECT_EQ(what.rfind("JSON decode error at byte 5: ", 0), 0u) << what;
  EXPECT_NE(what.find("expected ':'"), std::string::npos) << what;
  EXPECT_EQ(what, "JSON decode error at byte 5: " + std::string(e.reason()));
  EXPECT_EQ(what.find("json.exception"), std::string::npos) << what;  // nlohmann's prefix cut
}

TEST(json_parse, decode_error_counts_lines_in_multi_line_text) {
  json::decode_error e = parse_error("{\n  \"a\": 1,\n  \"b\": tru\n}");
  EXPECT_EQ(e.position(), 22u) << e.what();
  EXPECT_NE(std::string(e.what()).find("at byte 22 (line 3, column 11)"), std::string::npos)
      << e.what();
}

TEST(json_parse, truncated_text_reports_the_end) {
  for (std::string_view text :
       {"[1,2"sv, "{\"a\":"sv, "\"abc"sv, "[1, {\"b\": [true"sv, "-"sv, "tru"sv, "{"sv}) {
    json::decode_error e = parse_error(text);
    EXPECT_EQ(e.position(), text.size()) << text << ": " << e.what();
  }
}

TEST(json_parse, empty_input_is_an_error) {
  json::decode_error e = parse_error("");
  EXPECT_EQ(e.position(), 0u);
  EXPECT_NE(std::string(e.what()).find("unexpected end of input"), std::string::npos) << e.what();
  e = parse_error("  \n ");
  EXPECT_EQ(e.position(), 4u);
}

TEST(json_parse, trailing_garbage_is_an_error) {
  EXPECT_EQ(parse_error("[1] x").position(), 4u);
  EXPECT_EQ(parse_error("{} {}").position(), 3u);
  EXPECT_EQ(parse_error("1 2").position(), 2u);
  EXPECT_EQ(parse_error("[1]\0"sv).position(), 3u);
  EXPECT_EQ(parse_error("nullx").position(), 4u);
}

TEST(json_parse, invalid_texts_are_decode_errors_as_in_nlohmann) {
  const std::string_view invalid[] = {
      "[1,]",
      "{\"a\":1,}",
      "{\"a\"}",
      "{1: 2}",
      "[1 2]",
      ":",
      "]",
      "01",
      "1.",
      ".5",
      "+1",
      "1e",
      "-a",
      "0x10",
      "NaN",
      "Infinity",
      "-Infinity",
      "'single'",
      "/* c */ 1",
      "[1] // c",
      "True",
      "nul",
      "\"a\\x\"",
      "\"\\u12\"",
      "\"\\u12G4\"",
      "\"tab\there\"",
      "\"\x01\"",
      "\"\xFF\"",
      "\"\xC0\xAF\"",
      "\"\xED\xA0\x80\"",
      "\"\xF4\x90\x80\x80\"",
      "\"\xE2\x82\"",
      "[\"\x80\"]",
      "\xFF",
      "1e400",
      "[-1e999]",
      "{\"a\" : [1, 2}",
      "[{]}",
      "\"\\\"",
  };
  for (std::string_view text : invalid) {
    SCOPED_TRACE(testing::PrintToString(std::string(text)));
    EXPECT_FALSE(nlohmann_accepts(text));
    json::decode_error e = parse_error(text);
    EXPECT_TRUE(e.position().has_value()) << e.what();
    EXPECT_LE(e.position().value_or(0), text.size());
    document_error(text);
  }
}

TEST(json_parse, invalid_utf8_is_reported_where_it_is) {
  json::decode_error e = parse_error("[\"ok\", \"caf\xC3\"]");
  EXPECT_EQ(e.position(), 12u) << e.what();
  EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
}

TEST(json_parse, messages_are_valid_utf8_whatever_the_text) {
  // A server may send e.what() back in a JSON response: dump() must accept it.
  json::decode_error e = parse_error("[\"caf\xC3\"]");
  EXPECT_NE(std::string(e.what()).find("\"caf\\xC3\""), std::string::npos) << e.what();
  EXPECT_NO_THROW(json::dump(json::value(e.what())));
  e = parse_error("[\"\xE2\x82\xAC\xFF\xFE\"]");
  EXPECT_NE(std::string(e.what()).find("\xE2\x82\xAC\\xFF"), std::string::npos) << e.what();
  EXPECT_NO_THROW(json::dump(json::value(e.what())));
}

TEST(json_parse, number_overflow_points_at_the_number) {
  json::decode_error e = parse_error("[1, 1e400]");
  EXPECT_EQ(e.position(), 4u) << e.what();
  EXPECT_NE(std::string(e.what()).find("1e400"), std::string::npos) << e.what();
}

TEST(json_parse, long_tokens_are_cut_in_messages) {
  std::string text = "\"" + std::string(100000, 'a') + "\\q\"";
  json::decode_error e = parse_error(text);
  EXPECT_EQ(e.position(), 100002u) << e.what();
  EXPECT_LT(std::string_view(e.what()).size(), 300u) << e.what();
}

// --- Depth ---------------------------------------------------------------------------------

// Levels as simdjson counts them: the top-level value is level 1, so "[[1]]" has 3.
TEST(json_depth, nesting_up_to_1024_levels_parses) {
  json::value v = json::parse(nested(1023));
  for (int i = 0; i < 1023; ++i) v = json::value(v[0]);
  EXPECT_EQ(v, 1);
  json::document doc(nested(1023));
  json::view x = doc.root();
  for (int i = 0; i < 1023; ++i) x = x[0];
  EXPECT_EQ(x.get_int64(), 1);
  EXPECT_EQ(json::parse(std::string(1024, '[') + std::string(1024, ']')).size(), 1u);
}

TEST(json_depth, deeper_nesting_is_a_decode_error_not_a_crash) {
  for (std::size_t depth : {1024u, 1025u, 100000u, 1000000u}) {
    std::string text = nested(depth);
    json::decode_error e = parse_error(text);
    EXPECT_EQ(e.position(), 1024u) << e.what();  // the first value at level 1025
    EXPECT_NE(std::string(e.what()).find("nesting deeper than 1024 levels"), std::string::npos)
        << e.what();
    EXPECT_EQ(document_error(text).position(), 1024u);
  }
  EXPECT_EQ(parse_error(std::string(1025, '[') + std::string(1025, ']')).position(), 1024u);
  std::string objects;
  for (int i = 0; i < 5000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(5000, '}');
  EXPECT_EQ(parse_error(objects).position(), 5 * 1023u + 1);  // the key in the 1024th object
  // Unclosed deep text fails on depth or on the end of input, but fails.
  parse_error(std::string(1000000, '['));
}

// --- dump ------------------------------------------------------------------------------------

TEST(json_dump, compact_utf8_with_sorted_keys) {
  json::value v = json::parse(R"({"b": [1, 2.5, "é", null, true], "a": {}, "c": "q\"\n"})");
  EXPECT_EQ(json::dump(v), R"({"a":{},"b":[1,2.5,"é",null,true],"c":"q\"\n"})");
}

TEST(json_dump, indented) {
  json::value v = json::parse(R"({"a": [1, 2]})");
  EXPECT_EQ(json::dump(v, 2), "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(json::dump(v, 0), "{\n\"a\": [\n1,\n2\n]\n}");
}

TEST(json_dump, dump_to_appends) {
  std::string out = "HTTP body: ";
  json::dump_to(json::parse(R"({"x": [true]})"), out);
  json::dump_to(json::value(1), out);
  EXPECT_EQ(out, R"(HTTP body: {"x":[true]}1)");
}

TEST(json_dump, non_finite_numbers_become_null) {
  json::value v = {std::nan(""), std::numeric_limits<double>::infinity()};
  EXPECT_EQ(json::dump(v), "[null,null]");
}

TEST(json_dump, invalid_utf8_is_nlohmanns_type_error) {
  json::value v = std::string("\xFF");
  EXPECT_THROW(json::dump(v), nlohmann::json::type_error);
  std::string out;
  EXPECT_THROW(json::dump_to(v, out), nlohmann::json::type_error);
}

TEST(json_dump, round_trip) {
  json::value v = {
      {"int", -42},
      {"uint", std::numeric_limits<std::uint64_t>::max()},
      {"min", std::numeric_limits<std::int64_t>::min()},
      {"pi", 3.141592653589793},
      {"tiny", 5e-324},
      {"huge", 1.7976931348623157e308},
      {"text", "line\nbreak \"quoted\" \\ tab\t nul\0 \x01 \xE2\x82\xAC \xF0\x9F\x98\x80"s},
      {"list", {1, "two", nullptr, false, json::value::array(), json::value::object()}},
      {"nested", {{"a", {{"b", {{"c", {1, 2, 3}}}}}}}},
  };
  EXPECT_EQ(json::parse(json::dump(v)), v);
  EXPECT_EQ(json::parse(json::dump(v, 4)), v);
  std::string out;
  json::dump_to(v, out);
  EXPECT_EQ(out, json::dump(v));
  json::document doc(out);
  EXPECT_EQ(doc.root().to_value(), v);
}

// --- document and views ----------------------------------------------------------------------

constexpr std::string_view api_response = R"({
  "items": [
    {"id": 1, "name": "apple", "price": 1.25, "tags": ["fruit", "red"]},
    {"id": 2, "name": "caf\u00e9", "price": 3, "tags": []}
  ],
  "count": 2, "ok": true, "next": null, "big": 18446744073709551615, "neg": -5,
  "esc": "a\"b\\c\u0000d"
})";

TEST(json_document, reads_fields_like_python) {
  json::document doc(api_response);
  EXPECT_EQ(doc["items"][0]["id"].get_int64(), 1);
  EXPECT_EQ(doc["items"][1]["name"].get_string(), "caf\xC3\xA9");
  EXPECT_EQ(doc["items"][0]["price"].get_double(), 1.25);
  EXPECT_EQ(doc["items"][1]["price"].get_double(), 3.0);  // integers convert to double
  EXPECT_EQ(doc["count"].get_uint64(), 2u);
  EXPECT_TRUE(doc["ok"].get_bool());
  EXPECT_TRUE(doc["next"].is_null());
  EXPECT_EQ(doc["big"].get_uint64(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(doc["neg"].get_int64(), -5);
  EXPECT_EQ(doc["esc"].get_string(), "a\"b\\c\0d"sv);
}

TEST(json_document, type_tests) {
  json::document doc(api_response);
  json::view r = doc.root();
  EXPECT_TRUE(r.is_object());
  EXPECT_FALSE(r.is_array());
  EXPECT_TRUE(r["items"].is_array());
  EXPECT_TRUE(r["esc"].is_string());
  EXPECT_TRUE(r["neg"].is_number());
  EXPECT_TRUE(r["neg"].is_int64());
  EXPECT_FALSE(r["neg"].is_uint64());
  EXPECT_TRUE(r["big"].is_uint64());
  EXPECT_FALSE(r["big"].is_int64());
  EXPECT_TRUE(r["count"].is_int64());
  EXPECT_TRUE(r["count"].is_uint64());
  EXPECT_TRUE(r["items"][0]["price"].is_number());
  EXPECT_FALSE(r["items"][0]["price"].is_int64());
  EXPECT_TRUE(r["ok"].is_bool());
  EXPECT_TRUE(r["next"].is_null());
  EXPECT_FALSE(r["next"].is_object());
  EXPECT_EQ(r.type_name(), "an object");
  EXPECT_EQ(r["items"].type_name(), "an array");
  EXPECT_EQ(r["esc"].type_name(), "a string");
  EXPECT_EQ(r["neg"].type_name(), "an integer");
  EXPECT_EQ(r["big"].type_name(), "an integer");
  EXPECT_EQ(r["items"][0]["price"].type_name(), "a floating-point number");
  EXPECT_EQ(r["ok"].type_name(), "a boolean");
  EXPECT_EQ(r["next"].type_name(), "null");
}

TEST(json_document, iterates_arrays_and_objects) {
  json::document doc(api_response);
  std::int64_t ids = 0;
  std::vector<std::string_view> names;
  for (json::view item : doc["items"]) {
    ids += item["id"].get_int64();
    names.push_back(item["name"].get_string());
  }
  EXPECT_EQ(ids, 3);
  EXPECT_EQ(names, (std::vector<std::string_view>{"apple", "caf\xC3\xA9"}));
  EXPECT_EQ(doc["items"].size(), 2u);
  EXPECT_EQ(doc["items"][1]["tags"].size(), 0u);
  EXPECT_EQ(doc["items"][1]["tags"].begin(), doc["items"][1]["tags"].end());

  std::vector<std::string_view> keys;
  for (auto [key, value] : doc["items"][0].items()) {
    keys.push_back(key);
    if (key == "tags") {
      EXPECT_EQ(value.size(), 2u);
    }
  }
  EXPECT_EQ(keys, (std::vector<std::string_view>{"id", "name", "price", "tags"}));  // text order
  EXPECT_EQ(doc.root().size(), 7u);

  // Standard algorithms work on the ranges.
  json::view tags = doc["items"][0]["tags"];
  EXPECT_EQ(std::ranges::distance(tags), 2);
  auto red = std::ranges::find_if(tags, [](json::view t) { return t.get_string() == "red"; });
  EXPECT_NE(red, tags.end());
  auto it = tags.begin();
  auto old = it++;
  EXPECT_EQ((*old).get_string(), "fruit");
  EXPECT_EQ((*it).get_string(), "red");
  EXPECT_EQ(++it, tags.end());
}

TEST(json_document, find_returns_nullopt_for_a_missing_key) {
  json::document doc(api_response);
  ASSERT_TRUE(doc.find("count").has_value());
  EXPECT_EQ(doc.find("count")->get_int64(), 2);
  EXPECT_FALSE(doc.find("missing").has_value());
  EXPECT_FALSE(doc["items"][0].find("ID").has_value());  // keys are case-sensitive
  EXPECT_TRUE(doc["next"].is_null());                    // present, null: not missing
  EXPECT_TRUE(doc.find("next").has_value());
}

TEST(json_document, duplicate_keys_last_one_wins_as_in_parse) {
  json::document doc(R"({"a": 1, "b": 2, "a": 3})");
  EXPECT_EQ(doc["a"].get_int64(), 3);
  EXPECT_EQ(doc.find("a")->get_int64(), 3);
  EXPECT_EQ(doc.root().size(), 3u);  // as written
  EXPECT_EQ(doc.root().to_value(), json::parse(R"({"a": 3, "b": 2})"));
}

TEST(json_document, to_value_builds_what_parse_builds) {
  json::document doc(api_response);
  json::value v = json::parse(api_response);
  EXPECT_EQ(doc.root().to_value(), v);
  EXPECT_EQ(doc["items"][1].to_value(), v["items"][1]);
  EXPECT_TRUE(doc["count"].to_value().is_number_unsigned());
  EXPECT_TRUE(doc["neg"].to_value().is_number_integer());
}

TEST(json_document, scalars_at_the_top) {
  json::document number("42"), string(" \"s\" "), null("null"), empty("[]");
  EXPECT_EQ(number.root().get_int64(), 42);
  EXPECT_EQ(string.root().get_string(), "s");
  EXPECT_TRUE(null.root().is_null());
  EXPECT_EQ(empty.root().size(), 0u);
}

TEST(json_document, views_survive_moving_the_document) {
  json::document a(api_response);
  json::view items = a["items"];
  json::document b = std::move(a);
  EXPECT_EQ(items[1]["id"].get_int64(), 2);
  json::document c("[1]");
  c = std::move(b);
  EXPECT_EQ(items[0]["name"].get_string(), "apple");
  EXPECT_THROW((void)a.root(), std::logic_error);  // NOLINT(bugprone-use-after-move)
}

TEST(json_document, type_errors_say_what_was_expected_and_found) {
  json::document doc(api_response);
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const json::type_error& e) {
      return e.what();
    }
    return "no type_error";
  };
  EXPECT_EQ(message([&] { doc["items"].get_string(); }), "expected a string, found an array");
  EXPECT_EQ(message([&] { doc["items"][0]["price"].get_int64(); }),
            "expected an integer, found a floating-point number (1.25)");
  EXPECT_EQ(message([&] { doc["big"].get_int64(); }),
            "expected an integer in the int64 range, found an integer (18446744073709551615)");
  EXPECT_EQ(message([&] { doc["neg"].get_uint64(); }),
            "expected a non-negative integer, found an integer (-5)");
  EXPECT_EQ(message([&] { doc["next"].get_bool(); }), "expected a boolean, found null");
  EXPECT_EQ(message([&] { doc["ok"].get_double(); }), "expected a number, found a boolean (true)");
  EXPECT_EQ(message([&] { doc["items"]["id"]; }),
            "cannot look up key \"id\": expected an object, found an array");
  EXPECT_EQ(message([&] { doc["count"].find("x"); }),
            "cannot look up key \"x\": expected an object, found an integer (2)");
  EXPECT_EQ(message([&] { doc[0]; }), "cannot take element 0: expected an array, found an object");
  EXPECT_EQ(message([&] { doc["esc"].size(); }), "expected an array or an object, found a string");
  EXPECT_EQ(message([&] { doc.root().begin(); }),
            "cannot iterate: expected an array, found an object");
  EXPECT_EQ(message([&] { doc["items"].items(); }),
            "cannot list items: expected an object, found an array");
}

TEST(json_document, missing_key_is_a_key_error_naming_the_key) {
  json::document doc(api_response);
  try {
    doc["items"][0]["nmae"];
    FAIL() << "no key_error";
  } catch (const json::key_error& e) {
    EXPECT_EQ(e.key(), "nmae");
    EXPECT_STREQ(e.what(),
                 R"(key "nmae" not found in an object with keys "id", "name", "price", "tags")");
  }
  try {
    json::document empty("{}");
    empty["x"];
    FAIL() << "no key_error";
  } catch (const json::key_error& e) {
    EXPECT_STREQ(e.what(), R"(key "x" not found in an empty object)");
  }
  try {
    json::document six(R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6})");
    six["g"];
    FAIL() << "no key_error";
  } catch (const json::key_error& e) {
    EXPECT_STREQ(e.what(),
                 R"(key "g" not found in an object with keys "a", "b", "c", "d", "e", ...)");
  }
}

TEST(json_document, key_error_messages_are_valid_utf8_and_short) {
  std::string long_key = std::string(39, 'k') + "\xC3\xA9" + std::string(100, 'k');
  json::document doc(R"({")" + long_key + R"(": 1, "\n": 2})");
  try {
    doc["\xFF"];
    FAIL() << "no key_error";
  } catch (const json::key_error& e) {
    EXPECT_EQ(e.key(), "\xFF");  // the key itself, unchanged
    EXPECT_EQ(std::string(e.what()), R"(key "\xFF" not found in an object with keys ")" +
                                         std::string(39, 'k') + R"(...", "\x0A")");
    EXPECT_NO_THROW(json::dump(json::value(e.what())));
  }
}

TEST(json_document, index_past_the_end_is_an_index_error) {
  json::document doc(api_response);
  EXPECT_EQ(doc["items"][1]["id"].get_int64(), 2);
  try {
    doc["items"][2];
    FAIL() << "no index_error";
  } catch (const json::index_error& e) {
    EXPECT_STREQ(e.what(), "index 2 out of range for an array of 2 elements");
  }
  EXPECT_THROW(doc["items"][0]["tags"][std::size_t(-1)], json::index_error);
  EXPECT_THROW(doc["items"][1]["tags"][0], json::index_error);
}

TEST(json_document, every_error_is_a_json_error_and_an_invalid_argument) {
  json::document doc(api_response);
  EXPECT_THROW(doc["nope"], json::error);
  EXPECT_THROW(doc["items"][9], std::invalid_argument);
  EXPECT_THROW(doc["ok"].get_string(), std::invalid_argument);
  EXPECT_THROW(json::document("{"), std::invalid_argument);
  EXPECT_THROW(json::parse("{"), json::error);
}

TEST(json_document, big_integers_are_decode_errors_with_a_position) {
  json::decode_error e = document_error(R"({"id": 123456789012345678901234567890})");
  EXPECT_EQ(e.position(), 7u) << e.what();
  EXPECT_NE(std::string(e.what()).find("outside the int64 and uint64 ranges"), std::string::npos)
      << e.what();
  EXPECT_EQ(document_error("-9223372036854775809").position(), 0u);
  json::document min("-9223372036854775808");
  EXPECT_EQ(min.root().get_int64(), std::numeric_limits<std::int64_t>::min());
}

TEST(json_document, empty_and_invalid_text) {
  EXPECT_EQ(document_error("").position(), 0u);
  EXPECT_EQ(document_error("[1,2").position(), 4u);
  EXPECT_EQ(document_error("[1] x").position(), 4u);
  EXPECT_EQ(document_error("\"\xFF\"").position(), 1u);
}

// --- The per-thread parser --------------------------------------------------------------------

std::string big_array(std::size_t n) {
  std::string s = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) s += ',';
    s += R"({"id":)" + std::to_string(i) + R"(,"name":"item )" + std::to_string(i) +
         R"(","vals":[1.5,2,3]})";
  }
  return s + "]";
}

TEST(json_parser, large_texts_then_small_ones) {
  // Over 1 MiB: the thread's parser drops its buffers after each parse. Documents own
  // their tape and must not notice.
  std::string big = big_array(40000);
  ASSERT_GT(big.size(), 1u << 20);
  json::document doc(big);
  json::value v = json::parse(big);
  EXPECT_EQ(v.size(), 40000u);
  EXPECT_EQ(json::parse("[1]"), json::parse("[1]"));
  json::document small(R"({"a":"b"})");
  json::value again = json::parse(big);
  EXPECT_EQ(doc.root().size(), 40000u);
  EXPECT_EQ(doc[39999]["name"].get_string(), "item 39999");
  EXPECT_EQ(small["a"].get_string(), "b");
  EXPECT_EQ(again, v);
  EXPECT_EQ(doc.root().to_value(), v);
}

TEST(json_parser, threads_parse_at_the_same_time) {
  std::string text = big_array(2000);
  json::value expected = json::value::parse(text);
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        json::document doc(text);
        ok[t] += json::parse(text) == expected && doc[1999]["id"].get_int64() == 1999;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, (std::vector<int>{20, 20, 20, 20}));
}

}  // namespace

// --- The examples of docs/json.md ---------------------------------------------------------------

namespace docs {

TEST(json_docs, loads_and_dumps) {
  aio::json::value v = aio::json::parse(R"({"name": "widget", "tags": ["a", "b"], "price": 9.5})");
  std::string name = v["name"];  // nlohmann's conversions
  v["tags"].push_back("c");
  v["stock"] = 3;
  std::string body = aio::json::dump(v);
  // body == R"({"name":"widget","price":9.5,"stock":3,"tags":["a","b","c"]})"

  EXPECT_EQ(name, "widget");
  EXPECT_EQ(body, R"({"name":"widget","price":9.5,"stock":3,"tags":["a","b","c"]})");
}

TEST(json_docs, reading_a_document) {
  std::string body = R"({"items": [{"id": 7, "price": 2.5}, {"id": 8, "price": 4}],
                         "meta": {"page": "1", "of": "3"}, "next": "/items?page=2"})";
  std::vector<std::string> log;

  aio::json::document doc(body);
  std::int64_t first_id = doc["items"][0]["id"].get_int64();
  double total = 0;
  for (aio::json::view item : doc["items"]) total += item["price"].get_double();
  for (auto [key, value] : doc["meta"].items())
    log.push_back(std::string(key) + "=" + std::string(value.get_string()));
  if (auto next = doc.find("next"); next && !next->is_null()) log.emplace_back(next->get_string());

  EXPECT_EQ(first_id, 7);
  EXPECT_EQ(total, 6.5);
  EXPECT_EQ(log, (std::vector<std::string>{"page=1", "of=3", "/items?page=2"}));
}

/// A request handler's shape: any aio::json::error means the client sent bad JSON.
std::pair<int, std::string> handle(std::string_view request_body) {
  try {
    aio::json::document doc(request_body);
    std::string_view user = doc["user"].get_string();
    std::int64_t count = doc["count"].get_int64();
    return {200, std::string(user) + " x" + std::to_string(count)};
  } catch (const aio::json::error& e) {  // decode_error, type_error, key_error, index_error
    return {400, e.what()};
  }
}

TEST(json_docs, bad_requests) {
  EXPECT_EQ(handle(R"({"user": "ann", "count": 2})"), std::make_pair(200, "ann x2"s));
  EXPECT_EQ(handle(R"({"user": "ann", "count": "2"})"),
            std::make_pair(400, "expected an integer, found a string"s));
  EXPECT_EQ(handle(R"({"user": "ann"})"),
            std::make_pair(400, R"(key "count" not found in an object with keys "user")"s));
  EXPECT_EQ(
      handle(R"({"user": "ann", "count": 2)"),
      std::make_pair(
          400,
          "JSON decode error at byte 26: syntax error while parsing object - unexpected end of input; expected '}'"s));
}

}  // namespace docs
