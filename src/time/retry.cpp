// SPDX-License-Identifier: MIT
#include "aio/time/retry.hpp"

namespace aio::detail {

bool retry_by_default(const std::exception_ptr& e) noexcept {
  return exception_group::matches<std::exception>(e);
}

duration backoff_delay(const retry_options& o, int attempt) {
  const double base = std::chrono::duration<double>(o.base_delay).count();
  const double cap = std::chrono::duration<double>(o.max_delay).count();
  const double full = std::min(cap, base * std::pow(o.multiplier, attempt));
  const double jitter = std::clamp(o.jitter, 0.0, 1.0);
  thread_local std::minstd_rand rng{std::random_device{}()};
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const double seconds = full * (1.0 - jitter) + full * jitter * u;
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(seconds));
}

}  // namespace aio::detail
