#pragma once
// Counters, gauges-at-scrape and histograms rendered in the Prometheus text format (0.0.4).
//
// Hot paths look a metric up once and keep the reference: Counter and Histogram live as long as
// the registry and are updated with relaxed atomics, never a lock.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace runnel {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Cumulative buckets of observations in seconds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double seconds);

 private:
  friend class MetricsRegistry;
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the +Inf bucket).
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

// Latency buckets from 50µs to 10s.
std::vector<double> DefaultLatencyBounds();

// Thread-safe.
class MetricsRegistry {
 public:
  // Writes lines of gauges computed at scrape time (lag, end offsets) into `out`, in the text
  // format, "# HELP"/"# TYPE" included. Runs on the scraping thread and may block briefly.
  using Collector = std::function<void(std::string* out)>;

  Counter& GetCounter(absl::string_view name, absl::string_view help, MetricLabels labels = {});
  Histogram& GetHistogram(absl::string_view name, absl::string_view help, MetricLabels labels = {},
                          std::vector<double> bounds = DefaultLatencyBounds());
  void AddCollector(Collector collector);

  std::string Render();

  // Renders `labels` as {k="v",...} with values escaped; empty when there are none.
  static std::string FormatLabels(const MetricLabels& labels);

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<Counter>> counters;      // By formatted labels.
    std::map<std::string, std::unique_ptr<Histogram>> histograms;  // By formatted labels.
    std::map<std::string, MetricLabels> labels;
  };
  absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  std::vector<Collector> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace runnel
