// time-averager: streaming, one input of numbers, one output of averages. A window closes when
// WINDOW_MS milliseconds have passed since its first number (checked as numbers arrive), when it
// holds WINDOW_COUNT numbers, or when the input completes; each closed, non-empty window emits
// its average. Defaults: 1000 ms, 1000 numbers.
#include <runnel/sdk/server.h>

#include <chrono>
#include <cstdlib>
#include <string>

using runnel::sdk::Invocation;

int main(int argc, char** argv) {
  const char* ms = std::getenv("WINDOW_MS");
  const char* count = std::getenv("WINDOW_COUNT");
  const auto window = std::chrono::milliseconds(ms ? std::atol(ms) : 1000);
  const long max_count = count ? std::atol(count) : 1000;

  auto body = [=](Invocation& inv) -> absl::Status {
    double sum = 0;
    long n = 0;
    auto start = std::chrono::steady_clock::now();
    auto flush = [&]() -> absl::Status {
      absl::Status s = n > 0 ? inv.output(0).Emit(sum / static_cast<double>(n)) : absl::OkStatus();
      sum = 0;
      n = 0;
      return s;
    };
    while (true) {
      absl::StatusOr<std::optional<double>> x = inv.input(0).Next<double>();
      if (!x.ok()) {
        return x.status();
      }
      if (!x->has_value()) {
        return flush();
      }
      auto now = std::chrono::steady_clock::now();
      if (n > 0 && now - start >= window) {
        if (absl::Status s = flush(); !s.ok()) {
          return s;
        }
      }
      if (n == 0) {
        start = now;
      }
      sum += **x;
      if (++n >= max_count) {
        if (absl::Status s = flush(); !s.ok()) {
          return s;
        }
      }
    }
  };
  return runnel::sdk::Run(argc, argv,
                          runnel::sdk::Function::Streaming({.inputs = 1, .outputs = 1}, body));
}
