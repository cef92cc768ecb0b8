#include "sidecar/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace runnel::sidecar {

absl::Duration RetryPolicy::Delay(int attempts_made) {
  const int exponent = std::clamp(attempts_made - 1, 0, 62);
  const double base = absl::ToDoubleSeconds(options_.initial_backoff) *
                      std::pow(std::max(options_.multiplier, 1.0), exponent);
  const double jitter = std::clamp(options_.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  const double seconds = std::min(base, absl::ToDoubleSeconds(options_.max_backoff)) * factor(random_);
  return std::clamp(absl::Seconds(seconds), absl::ZeroDuration(), options_.max_backoff);
}

}  // namespace runnel::sidecar
