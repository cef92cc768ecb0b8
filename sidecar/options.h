#pragma once
// The processor's settings as plain structs (house style B.8): config.cc builds them from flags,
// environment and riff's bindings directory; the library never reads any of those itself.

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/record_selector.h"
#include "sidecar/retry_policy.h"
#include "sidecar/windower.h"

namespace runnel::sidecar {

// One stream the processor reads or writes.
struct StreamBinding {
  std::string alias;    // The name the function sees (StartFrame input/output names).
  std::string gateway;  // host:port of the gateway's gRPC endpoint.
  std::string stream;   // Stream (topic) name on that gateway.
  bool start_latest = false;  // Inputs: where a group without a position starts.
  // Outputs: the stream's content type (StartFrame.expectedContentTypes). Empty: ask the gateway
  // (runnel.v1 GetStream) at start-up, "*/*" if it does not say.
  std::string content_type;
};

// A plain HTTP request-reply function (http_function_transport.h): each input record is one
// POST to http://host:port/target. config.cc parses the URL.
struct HttpFunctionOptions {
  std::string url;  // As given, for messages.
  std::string host;
  int port = 80;
  std::string target = "/";
  // Requests in flight at once over the whole processor; also the most connections kept open.
  int max_inflight = 64;
  // One request, from connecting (or reusing a connection) to the last byte of the response.
  absl::Duration request_timeout = absl::Seconds(30);
  // A larger response body fails the request (retried like a 5xx).
  size_t max_response_bytes = 16 << 20;
};

// The half-close linger for functions that do not say they answer after a half-close.
inline constexpr absl::Duration kSafeHalfCloseIdle = absl::Milliseconds(500);

struct ProcessorOptions {
  std::string name;   // Processor name: CloudEvent source of outputs, default consumer group.
  std::string group;  // Consumer group for every input.
  std::string function_address = "localhost:8081";
  // Set: the function is plain HTTP request-reply instead of riff-rpc (function_address unused).
  // Needs exactly one input and at most one output.
  std::optional<HttpFunctionOptions> http_function;
  std::vector<StreamBinding> inputs;   // At least one.
  std::vector<StreamBinding> outputs;  // Zero (a sink) or more.
  std::optional<StreamBinding> dead_letter;
  WindowSpec window;

  // Keys and time (common/record_selector.h, docs/sidecar.md "Keys and event time").
  // --key-by: re-key every record before windowing; empty keeps the published keys. When
  // records have keys (or key_by is set) every window is per key.
  KeySelector key_by;
  // --event-time: arrival (default) windows on processing time as before; anything else windows
  // on event time with watermarks, and count-only windows stay in arrival order.
  TimeSelector event_time;
  // A partition's watermark is the highest event time it delivered minus this.
  absl::Duration max_out_of_orderness = absl::ZeroDuration();
  // A window fires once the watermark passes its end plus this; records for a window that
  // fired are late.
  absl::Duration allowed_lateness = absl::ZeroDuration();
  // A partition that delivered nothing for this long (processing time) stops holding the
  // watermark back; then the watermark follows the processing clock minus
  // max_out_of_orderness, so the last windows of a quiet stream fire. Zero: never.
  absl::Duration idle_timeout = absl::Seconds(10);
  enum class LateMode { kDrop, kSideOutput, kRefire };
  // --late drop | side-output:STREAM | refire. Drop counts them
  // (runnel_processor_late_records_total); side-output publishes each late record as it is to
  // `late_output`; refire invokes the window again with its late records, outputs marked
  // runnelupdate=true.
  LateMode late = LateMode::kDrop;
  std::optional<StreamBinding> late_output;  // kSideOutput only.

  // A failed invocation is retried per `invoke_retry`; after max_attempts the window's records go
  // to the dead-letter stream (or, without one, retries continue at max_backoff: never dropped).
  // HTTP functions: a failed request is retried per `invoke_retry` on its own, and a record the
  // function refuses (4xx, or retries exhausted) goes to the dead-letter stream alone.
  RetryOptions invoke_retry;
  // Back-off for (re)connecting to gateways and the function.
  RetryOptions connect_retry{.initial_backoff = absl::Milliseconds(100),
                             .max_backoff = absl::Seconds(5), .max_attempts = 0};
  // Deadline of one invocation, from its start; zero = none.
  absl::Duration invoke_timeout = absl::ZeroDuration();
  // Keep the request stream open after a window closes until no output arrived for this long
  // (or there are as many outputs as inputs), then half-close. Zero half-closes at once. Works
  // around invokers that drop in-flight outputs on half-close (riff's Node invoker 0.3.0, see
  // docs/sidecar.md). Unset (auto): zero for functions that announce they answer after a
  // half-close (FunctionTraits), kSafeHalfCloseIdle for every other function.
  std::optional<absl::Duration> half_close_idle;

  int max_window_records = 10000;   // A window closes early when it holds this many records.
  int max_open_windows = 4;         // Per lane: windows not yet complete (outputs draining).
  // Per lane: invocations running at once (tumbling and session windows). 1 keeps a
  // partition's windows in order at the function; more overlap slow invocations.
  int max_concurrent_invocations = 1;
  int lane_queue_records = 2000;    // Per lane: received records waiting to be windowed.
  int receive_batch_records = 500;  // max_records of ReceiveBatches.
  int publish_batch_records = 500;  // Most records per PublishBatches request.
  // Most bytes per PublishBatches request (records serialized; a larger record goes alone).
  int publish_batch_bytes = 4 << 20;
  int publish_inflight_batches = 8; // Unacknowledged PublishBatches requests per output.
  // Function outputs read but not yet durable, over all lanes and outputs. At the limit the
  // processor stops reading from the function (output_budget.h) until outputs drain; its inputs
  // then stop too, as windows cannot complete. About this many records' memory.
  int max_pending_outputs = 10000;
  // Outputs one invocation may emit. A call's outputs are held until it completes (an attempt
  // that fails publishes nothing), so they are the one part of pending outputs the bound above
  // cannot stop: pending outputs stay under max_pending_outputs plus what the running calls
  // hold. A call that emits more fails (RESOURCE_EXHAUSTED; retried, then isolated).
  int max_window_outputs = 100000;
  absl::Duration shutdown_grace = absl::Seconds(10);
};

}  // namespace runnel::sidecar
