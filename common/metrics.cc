#include "common/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace runnel {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, seconds) * 1e6)),
                        std::memory_order_relaxed);
}

std::vector<double> DefaultLatencyBounds() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,    5,    10};
}

std::string MetricsRegistry::FormatLabels(const MetricLabels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string escaped = absl::StrReplaceAll(
        labels[i].second, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
    absl::StrAppend(&out, i ? "," : "", labels[i].first, "=\"", escaped, "\"");
  }
  out += "}";
  return out;
}

Counter& MetricsRegistry::GetCounter(absl::string_view name, absl::string_view help,
                                     MetricLabels labels) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[std::string(name)];
  f.help = std::string(help);
  f.type = "counter";
  const std::string key = FormatLabels(labels);
  auto& slot = f.counters[key];
  if (!slot) {
    slot = std::make_unique<Counter>();
    f.labels[key] = std::move(labels);
  }
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(absl::string_view name, absl::string_view help,
                                         MetricLabels labels, std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[std::string(name)];
  f.help = std::string(help);
  f.type = "histogram";
  const std::string key = FormatLabels(labels);
  auto& slot = f.histograms[key];
  if (!slot) {
    slot = std::make_unique<Histogram>(std::move(bounds));
    f.labels[key] = std::move(labels);
  }
  return *slot;
}

void MetricsRegistry::AddCollector(Collector collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Render() {
  std::string out;
  std::vector<Collector> collectors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, f] : families_) {
      absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ", f.type, "\n");
      for (const auto& [key, c] : f.counters) {
        absl::StrAppend(&out, name, key, " ", c->value(), "\n");
      }
      for (const auto& [key, h] : f.histograms) {
        MetricLabels labels = f.labels.at(key);
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= h->bounds_.size(); ++i) {
          cumulative += h->buckets_[i].load(std::memory_order_relaxed);
          MetricLabels with_le = labels;
          with_le.emplace_back("le", i < h->bounds_.size() ? absl::StrCat(h->bounds_[i]) : "+Inf");
          absl::StrAppend(&out, name, "_bucket", FormatLabels(with_le), " ", cumulative, "\n");
        }
        absl::StrAppend(&out, name, "_sum", key, " ",
                        static_cast<double>(h->sum_micros_.load(std::memory_order_relaxed)) / 1e6,
                        "\n", name, "_count", key, " ", h->count_.load(std::memory_order_relaxed),
                        "\n");
      }
    }
    collectors = collectors_;
  }
  // Collectors may take other locks (the store's); run them outside ours.
  for (auto& c : collectors) {
    c(&out);
  }
  return out;
}

}  // namespace runnel
