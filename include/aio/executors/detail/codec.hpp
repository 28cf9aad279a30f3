// SPDX-License-Identifier: MIT
// aio/executors/detail/codec.hpp — the byte encoding of process-pool arguments and
// results (the pool's pickle).
//
// Serialisable types, recursively:
//   - trivially copyable types that are not pointers (int, double, a struct of numbers,
//     std::array<float, 4>, std::pair<int, int>): their bytes, sizeof(T) of them;
//   - std::string: an 8-byte length, then the bytes;
//   - std::vector<T> of a serialisable T: an 8-byte count, then the elements (in one
//     block when T is trivially copyable).
// Both ends are the same program (the workers are forked from it), so native byte
// order and layout are the same on both sides. The reader checks every length against
// the bytes it has, so a short or corrupt frame is an error (codec_error), never an
// over-read or a huge allocation.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace aio::detail {

template <class T>
struct is_serialisable
    : std::bool_constant<std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                         !std::is_member_pointer_v<T> && !std::is_reference_v<T>> {};
template <>
struct is_serialisable<std::string> : std::true_type {};
template <class T>
struct is_serialisable<std::vector<T>> : is_serialisable<T> {};
template <>
struct is_serialisable<void> : std::true_type {};  // a function result only

template <class T>
inline constexpr bool serialisable_v = is_serialisable<std::remove_cv_t<T>>::value;

/// A frame could not be decoded (short, or not what the type expects).
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Appends encoded values to a byte string.
class frame_writer {
 public:
  explicit frame_writer(std::string& out) noexcept : out_(out) {}

  void put_bytes(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  void put_size(std::uint64_t n) { put_bytes(&n, sizeof n); }

  template <class T>
  void put(const T& v) {
    static_assert(serialisable_v<T>, "not serialisable for a process pool (see codec.hpp)");
    if constexpr (std::is_same_v<T, std::string>) {
      put_size(v.size());
      put_bytes(v.data(), v.size());
    } else if constexpr (std::is_trivially_copyable_v<T>) {
      put_bytes(&v, sizeof v);
    } else {  // std::vector
      using E = typename T::value_type;
      put_size(v.size());
      if constexpr (std::is_trivially_copyable_v<E>) {
        put_bytes(v.data(), v.size() * sizeof(E));
      } else {
        for (const E& e : v) put(e);
      }
    }
  }

 private:
  std::string& out_;
};

/// Reads encoded values from a byte range.
class frame_reader {
 public:
  explicit frame_reader(std::string_view in) noexcept
      : p_(in.data()), end_(in.data() + in.size()) {}

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  void get_bytes(void* out, std::size_t n) {
    if (n > remaining()) throw codec_error("process pool: truncated frame");
    if (n) std::memcpy(out, p_, n);
    p_ += n;
  }
  std::uint64_t get_size() {
    std::uint64_t n;
    get_bytes(&n, sizeof n);
    return n;
  }

  template <class T>
  T get() {
    static_assert(serialisable_v<T>, "not serialisable for a process pool (see codec.hpp)");
    if constexpr (std::is_same_v<T, std::string>) {
      const std::uint64_t n = get_size();
      if (n > remaining()) throw codec_error("process pool: truncated frame");
      std::string s(p_, static_cast<std::size_t>(n));
      p_ += n;
      return s;
    } else if constexpr (std::is_trivially_copyable_v<T>) {
      // (bit_cast: a trivially copyable type need not be default constructible.)
      std::array<unsigned char, sizeof(T)> buf;
      get_bytes(buf.data(), sizeof(T));
      return std::bit_cast<T>(buf);
    } else {  // std::vector
      using E = typename T::value_type;
      const std::uint64_t n = get_size();
      // Every element takes at least min_size<E>() bytes: a count larger than the bytes
      // left is corrupt (and must not become a huge allocation).
      if (n > remaining() / min_size<E>()) throw codec_error("process pool: truncated frame");
      T v;
      if constexpr (std::is_trivially_copyable_v<E>) {
        v.resize(static_cast<std::size_t>(n));
        get_bytes(v.data(), v.size() * sizeof(E));
      } else {
        v.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i) v.push_back(get<E>());
      }
      return v;
    }
  }

 private:
  template <class E>
  static constexpr std::size_t min_size() {
    if constexpr (std::is_trivially_copyable_v<E>)
      return sizeof(E);
    else
      return sizeof(std::uint64_t);  // a string or a vector: its length
  }
  const char* p_;
  const char* end_;
};

}  // namespace aio::detail
