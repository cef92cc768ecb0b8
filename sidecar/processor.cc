#include "sidecar/processor.h"

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/record_selector.h"
#include "sidecar/ack_tracker.h"
#include "sidecar/config.h"
#include "sidecar/http_function_transport.h"
#include "sidecar/output_budget.h"
#include "sidecar/retry_policy.h"
#include "sidecar/lane.h"
#include "sidecar/processor_context.h"
#include "sidecar/windower.h"

namespace runnel::sidecar {

namespace {

// A dead letter's input coordinates, for the log.
std::string DescribeDeadLetter(const liiklus::PublishRequest& r) {
  const auto& ext = r.liiklusevent().extensions();
  auto get = [&ext](const char* name) {
    auto it = ext.find(name);
    return it == ext.end() ? std::string("?") : it->second;
  };
  return absl::StrCat(get("runnelstream"), "/", get("runnelpartition"), "@", get("runneloffset"),
                      " (", r.liiklusevent().data_content_type(), ")");
}

std::string FunctionName(const ProcessorOptions& o) {
  return o.http_function ? o.http_function->url : o.function_address;
}

}  // namespace

Processor::Processor(ProcessorOptions options, Clock& clock, MetricsRegistry& metrics,
                     std::unique_ptr<FunctionTransport> transport)
    : options_(std::move(options)),
      clock_(clock),
      metrics_(metrics),
      context_(std::make_unique<ProcessorContext>()) {
  ProcessorContext& c = *context_;
  c.options = options_;
  c.clock = &clock_;
  if (transport != nullptr) {
    c.transport = std::move(transport);
  } else if (options_.http_function) {
    c.transport = NewHttpFunctionTransport(*options_.http_function, options_.invoke_retry, metrics);
  } else {
    c.transport = NewGrpcFunctionTransport(options_.function_address);
  }
  c.budget = std::make_unique<OutputBudget>(static_cast<size_t>(options_.max_pending_outputs));
  c.metrics = LaneMetrics::Register(metrics, options_);
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    c.ackers.push_back(
        std::make_unique<Acker>(c.Channel(in.gateway), in.stream, options_.group));
    c.start_frame.add_inputnames(in.alias);
  }
  const char* refused_help =
      "Publish batches the gateway refused for good (the invocation fails, or dead letters are "
      "resent).";
  for (const StreamBinding& out : options_.outputs) {
    c.start_frame.add_outputnames(out.alias);
    publish_refused_.push_back(&metrics.GetCounter("runnel_processor_publish_refused_total",
                                                   refused_help,
                                                   {{"stream", out.stream}, {"output", out.alias}}));
  }
  if (options_.dead_letter) {
    dead_letter_refused_ =
        &metrics.GetCounter("runnel_processor_publish_refused_total", refused_help,
                            {{"stream", options_.dead_letter->stream}, {"output", "dead-letter"}});
  }
  if (options_.late_output) {
    late_refused_ =
        &metrics.GetCounter("runnel_processor_publish_refused_total", refused_help,
                            {{"stream", options_.late_output->stream}, {"output", "late"}});
  }
  metrics.AddCollector([this](std::string* out) {
    size_t unacked = 0, open_windows = 0;
    {
      absl::MutexLock lock(&lanes_mu_);
      for (auto& [p, lane] : lanes_) {
        const LaneStats stats = lane->stats();
        unacked += stats.unacked;
        open_windows += stats.open_windows;
      }
    }
    const std::optional<absl::Duration> lag = WatermarkLag();
    absl::StrAppend(out,
                    "# HELP runnel_processor_open_windows Windows collecting records, invoking "
                    "the function or publishing its outputs.\n"
                    "# TYPE runnel_processor_open_windows gauge\n"
                    "runnel_processor_open_windows ",
                    open_windows, "\n");
    if (lag) {
      absl::StrAppend(out,
                      "# HELP runnel_processor_watermark_lag_seconds Processing time minus the "
                      "lowest watermark of the lanes (event time only).\n"
                      "# TYPE runnel_processor_watermark_lag_seconds gauge\n"
                      "runnel_processor_watermark_lag_seconds ",
                      absl::ToDoubleSeconds(*lag), "\n");
    }
    absl::StrAppend(out,
                    "# HELP runnel_processor_unacked_records Records read but not yet "
                    "acknowledged (windows in progress).\n"
                    "# TYPE runnel_processor_unacked_records gauge\n"
                    "runnel_processor_unacked_records ",
                    unacked, "\n");
    absl::StrAppend(out,
                    "# HELP runnel_processor_pending_outputs Function outputs read but not yet "
                    "durable (the processor stops reading from the function at "
                    "--max-pending-outputs).\n"
                    "# TYPE runnel_processor_pending_outputs gauge\n"
                    "runnel_processor_pending_outputs ",
                    context_->budget->pending(), "\n");
    absl::MutexLock lock(&lag_mu_);
    if (lag_.empty()) return;
    absl::StrAppend(out,
                    "# HELP runnel_processor_lag_records Records between the group's acknowledged "
                    "position and the partition's end (end offset minus position, as KEDA's "
                    "liiklus scaler counts).\n"
                    "# TYPE runnel_processor_lag_records gauge\n");
    for (const auto& [key, lag] : lag_) {
      const StreamBinding& in = options_.inputs[key.first];
      absl::StrAppend(out, "runnel_processor_lag_records{stream=\"", in.stream, "\",input=\"",
                      in.alias, "\",partition=\"", key.second, "\"} ", lag, "\n");
    }
  });
}

Processor::~Processor() { Shutdown(); }

void Processor::Start(OnFatal on_fatal) {
  on_fatal_ = std::move(on_fatal);
  startup_ = std::jthread([this](std::stop_token stop) { Startup(stop); });
}

bool Processor::Ready(std::string* detail) const {
  absl::MutexLock lock(&mu_);
  *detail = state_;
  return ready_;
}

ProcessorStatus Processor::Status() const {
  ProcessorStatus s;
  s.ready = Ready(&s.state);
  const LaneMetrics& m = context_->metrics;
  for (Counter* c : m.records_in) s.records_in += c->value();
  for (Counter* c : m.records_out) s.records_out += c->value();
  s.dead_lettered = m.dead_lettered->value();
  s.retries = m.retries->value();
  s.invocation_errors = m.invocation_errors->value();
  s.late_records = m.late_records->value();
  absl::Time last_error_time = absl::InfinitePast();
  {
    absl::MutexLock lock(&lanes_mu_);
    for (const auto& [p, lane] : lanes_) {
      const LaneStats stats = lane->stats();
      s.open_windows += static_cast<int64_t>(stats.open_windows);
      if (stats.last_error_time > last_error_time) {
        last_error_time = stats.last_error_time;
        s.last_error = stats.last_error;
      }
    }
  }
  if (last_error_time != absl::InfinitePast()) {
    s.last_error_time = FormatRfc3339Millis(last_error_time);
  }
  if (const std::optional<absl::Duration> lag = WatermarkLag()) {
    s.watermark_lag_seconds = absl::ToDoubleSeconds(*lag);
  }
  return s;
}

std::optional<absl::Duration> Processor::WatermarkLag() const {
  const absl::Time now = clock_.Now();
  std::optional<absl::Duration> largest;
  absl::MutexLock lock(&lanes_mu_);
  for (const auto& [p, lane] : lanes_) {
    std::optional<absl::Duration> lag = lane->stats().WatermarkLag(now);
    if (lag && (!largest || *lag > *largest)) largest = lag;
  }
  return largest;
}

void Processor::Startup(std::stop_token stop) {
  ProcessorContext& c = *context_;
  auto set_state = [this](std::string s) {
    absl::MutexLock lock(&mu_);
    state_ = std::move(s);
  };
  Backoff backoff(options_.connect_retry);
  // Output content types: given by the bindings, or the gateway's stream definitions.
  for (const StreamBinding& out : options_.outputs) {
    std::string content_type = out.content_type;
    while (content_type.empty()) {
      absl::StatusOr<std::string> looked_up = LookUpContentType(c.Channel(out.gateway), out.stream);
      if (looked_up.ok()) {
        content_type = *looked_up;
        break;
      }
      const absl::Duration delay = backoff.NextDelay();
      set_state(absl::StrCat("waiting for output stream '", out.stream, "' on ", out.gateway,
                             ": ", looked_up.status().message()));
      RUNNEL_LOG(WARNING) << "cannot look up an output stream; retrying"
                          << Kv("stream", out.stream) << Kv("gateway", out.gateway)
                          << Kv("status", looked_up.status().ToString()) << Kv("retry_in", delay);
      if (!SleepUnlessStopped(stop, delay)) return;
    }
    backoff.Reset();
    c.start_frame.add_expectedcontenttypes(content_type);
  }
  // The dead-letter stream must take every record an input can hold (dead letters keep their
  // input's content type), or a dead letter would be refused for good and its window could
  // never be acknowledged: refuse such a configuration up front (it ends the process).
  if (options_.dead_letter) {
    auto look_up = [&](const StreamBinding& b, const char* what) -> std::optional<std::string> {
      while (true) {
        absl::StatusOr<std::string> looked_up = LookUpContentType(c.Channel(b.gateway), b.stream);
        if (looked_up.ok()) {
          backoff.Reset();
          return *looked_up;
        }
        const absl::Duration delay = backoff.NextDelay();
        set_state(absl::StrCat("waiting for ", what, " stream '", b.stream, "' on ", b.gateway,
                               ": ", looked_up.status().message()));
        RUNNEL_LOG(WARNING) << "cannot look up a stream; retrying" << Kv("stream", b.stream)
                            << Kv("gateway", b.gateway)
                            << Kv("status", looked_up.status().ToString())
                            << Kv("retry_in", delay);
        if (!SleepUnlessStopped(stop, delay)) return std::nullopt;
      }
    };
    const StreamBinding& dl = *options_.dead_letter;
    std::optional<std::string> dl_type = look_up(dl, "dead-letter");
    if (!dl_type) return;
    std::map<std::string, std::string> input_types;
    for (const StreamBinding& in : options_.inputs) {
      std::optional<std::string> type = look_up(in, "input");
      if (!type) return;
      input_types[in.stream] = *type;
    }
    absl::Status checked = CheckDeadLetterContentType(dl.stream, *dl_type, input_types);
    if (!checked.ok()) {
      absl::Status fatal(checked.code(), absl::StrCat("--dead-letter: ", checked.message()));
      set_state(std::string(fatal.message()));
      RUNNEL_LOG(ERROR) << "refusing the dead-letter stream" << Kv("stream", dl.stream)
                        << Kv("status", fatal.ToString());
      if (on_fatal_) std::move(on_fatal_)(std::move(fatal));
      return;
    }
  }
  // The function: wait until it accepts connections, without crashing in a loop meanwhile.
  while (!c.transport->WaitReady(absl::Now() + absl::Seconds(1))) {
    const absl::Duration delay = backoff.NextDelay();
    set_state(absl::StrCat("waiting for the function at ", FunctionName(options_)));
    RUNNEL_LOG(WARNING) << "function not reachable; retrying"
                        << Kv("function", FunctionName(options_)) << Kv("retry_in", delay);
    if (!SleepUnlessStopped(stop, delay)) return;
  }
  for (size_t i = 0; i < options_.outputs.size(); ++i) {
    const StreamBinding& out = options_.outputs[i];
    c.publishers.push_back(std::make_unique<Publisher>(
        c.Channel(out.gateway),
        PublisherOptions{.topic = out.stream,
                         .batch_records = options_.publish_batch_records,
                         .batch_bytes = static_cast<size_t>(options_.publish_batch_bytes),
                         .inflight_batches = options_.publish_inflight_batches,
                         .retry = options_.connect_retry,
                         .refused = publish_refused_[i],
                         .on_settled = [budget = c.budget.get()](size_t n) {
                           budget->Remove(n);
                         }}));
  }
  // Dead letters and late side outputs are input records with nowhere else to go: their
  // publishers keep resending a refused batch (visible in the log and metrics) rather than drop
  // or ack records that are not durable anywhere.
  auto input_records_publisher = [&](const StreamBinding& to, Counter* refused) {
    return std::make_unique<Publisher>(
        c.Channel(to.gateway),
        PublisherOptions{.topic = to.stream,
                         .batch_records = options_.publish_batch_records,
                         .batch_bytes = static_cast<size_t>(options_.publish_batch_bytes),
                         .inflight_batches = options_.publish_inflight_batches,
                         .retry = options_.connect_retry,
                         .fail_refused = false,
                         .refused = refused,
                         .describe = DescribeDeadLetter});
  };
  if (options_.dead_letter) {
    c.dead_letter = input_records_publisher(*options_.dead_letter, dead_letter_refused_);
  }
  if (options_.late_output) {
    c.late = input_records_publisher(*options_.late_output, late_refused_);
  }
  if (WindowsOnEventTime(options_)) {
    // Checkpoints live beside the first input, with a partition per lane of the widest input.
    const StreamBinding& first = options_.inputs.front();
    c.checkpoints = std::make_unique<CheckpointStore>(c.Channel(first.gateway),
                                                      CheckpointStreamName(options_.group));
    while (true) {
      int partitions = 1;
      absl::Status opened = absl::OkStatus();
      c.input_partitions.clear();
      for (const StreamBinding& in : options_.inputs) {
        absl::StatusOr<int> n = LookUpPartitionCount(c.Channel(in.gateway), in.stream);
        if (!n.ok()) {
          opened = n.status();
          break;
        }
        c.input_partitions.push_back(*n);
        partitions = std::max(partitions, *n);
      }
      if (opened.ok()) opened = c.checkpoints->Open(partitions);
      if (opened.ok()) break;
      const absl::Duration delay = backoff.NextDelay();
      set_state(absl::StrCat("waiting for the checkpoint stream: ", opened.message()));
      RUNNEL_LOG(WARNING) << "cannot open the checkpoint stream; retrying"
                          << Kv("status", opened.ToString()) << Kv("retry_in", delay);
      if (!SleepUnlessStopped(stop, delay)) return;
    }
    backoff.Reset();
  }
  if (stop.stop_requested()) return;
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    auto reader = std::make_unique<InputReader>(
        c.Channel(in.gateway),
        InputReaderOptions{.input = static_cast<int>(i),
                           .topic = in.stream,
                           .group = options_.group,
                           .start_latest = in.start_latest,
                           .max_records = options_.receive_batch_records,
                           .retry = options_.connect_retry},
        [this](std::vector<InputRecord>& batch) {
          // A --key-by that re-keys regroups records across partitions: one lane sees them all.
          // Published keys (--key-by key) already sit in one partition each.
          return batch.empty() ||
                 LaneFor(options_.key_by.rekeys() ? 0 : batch.front().partition).Push(batch);
        },
        [this, stream = in.stream](absl::Status s) {
          if (!s.ok()) {
            absl::MutexLock lock(&mu_);
            state_ = std::string(s.message());
          }
        });
    reader->Start();
    readers_.push_back(std::move(reader));
  }
  {
    absl::MutexLock lock(&mu_);
    ready_ = true;
    state_ = "ok";
  }
  RUNNEL_LOG(INFO) << "runnel-processor running" << Kv("name", options_.name)
                   << Kv("function", FunctionName(options_))
                   << Kv("inputs", options_.inputs.size())
                   << Kv("outputs", options_.outputs.size())
                   << Kv("window", FormatWindowSpec(options_.window));
  // Housekeeping until shutdown: resend acks that failed (e.g. while a gateway restarted) and
  // refresh the lag gauges (kept as they were while the gateway does not answer).
  RefreshLag();
  while (SleepUnlessStopped(stop, absl::Seconds(1))) {
    for (auto& acker : c.ackers) acker->RetryFailed();
    RefreshLag();
  }
}

void Processor::RefreshLag() {
  for (size_t i = 0; i < options_.inputs.size(); ++i) {
    const StreamBinding& in = options_.inputs[i];
    absl::StatusOr<std::map<uint32_t, int64_t>> lag =
        LookUpLag(context_->Channel(in.gateway), in.stream, options_.group);
    if (!lag.ok()) continue;
    absl::MutexLock lock(&lag_mu_);
    for (const auto& [partition, n] : *lag) lag_[{i, partition}] = n;
  }
}

Lane& Processor::LaneFor(uint32_t partition) {
  absl::MutexLock lock(&lanes_mu_);
  std::unique_ptr<Lane>& lane = lanes_[partition];
  if (lane == nullptr) {
    lane = std::make_unique<Lane>(*context_, partition);
    if (stopping_) {
      lane->Drain();  // Refuses the record: the reader stops.
    }
  }
  return *lane;
}

void Processor::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    ready_ = false;
    state_ = "shutting down";
  }
  // 1. Stop taking input: lanes refuse records (unblocking readers), then readers end.
  std::vector<Lane*> lanes;
  {
    absl::MutexLock lock(&lanes_mu_);
    stopping_ = true;
    for (auto& [p, lane] : lanes_) lanes.push_back(lane.get());
  }
  for (Lane* lane : lanes) lane->Drain();
  if (startup_.joinable()) {
    startup_.request_stop();
    startup_.join();
  }
  for (auto& reader : readers_) reader->Stop();
  // A reader may have created a lane after the snapshot above.
  {
    absl::MutexLock lock(&lanes_mu_);
    lanes.clear();
    for (auto& [p, lane] : lanes_) {
      lane->Drain();
      lanes.push_back(lane.get());
    }
  }
  // 2. Let open windows finish, bounded by the grace period; what does not finish is replayed.
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  bool drained = true;
  for (Lane* lane : lanes) drained = lane->WaitDrained(deadline) && drained;
  if (!drained) {
    RUNNEL_LOG(WARNING) << "shutdown grace period over; unfinished windows are abandoned and "
                           "will be replayed";
  }
  // 3. Stop lanes (cancelling calls), then publishers (their callbacks post into stopped lanes),
  // then let the last acks land.
  for (Lane* lane : lanes) lane->Stop();
  for (auto& p : context_->publishers) p->Stop();
  if (context_->dead_letter) context_->dead_letter->Stop();
  if (context_->late) context_->late->Stop();
  if (context_->checkpoints) context_->checkpoints->Stop();
  for (auto& a : context_->ackers) a->WaitIdle(absl::Seconds(5));
  {
    absl::MutexLock lock(&lanes_mu_);
    lanes_.clear();
  }
  readers_.clear();
}

}  // namespace runnel::sidecar
