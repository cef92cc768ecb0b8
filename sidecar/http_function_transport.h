#pragma once
// Plain HTTP request-reply functions: any HTTP/1.1 server that answers POST can be a processor's
// function. Each input frame is one POST (mapping and error classes in sidecar/http_function.h);
// a FunctionCall (one window) has many requests in flight at once and hands their results out in
// input order, so a partition's outputs keep their order.
//
// Shape: one io_context and one I/O thread per transport (Boost.Beast, async, error_code
// overloads only); a pool of keep-alive connections, at most options.max_inflight, shared by all
// calls; requests beyond that wait in a FIFO (their number is bounded by the processor's open
// windows, which withhold reads when full). Each request has options.request_timeout (and never
// outlives the call's deadline).
//
// Errors: a refused connection, a reset, a timeout, 408, 429 and 5xx (but 501, 505) are retried
// per `retry` (the processor's invoke retry) for that one record, the rest of the window going on
// meanwhile. A reused keep-alive connection the server had closed is retried at once on a fresh
// one, without counting. Other statuses, or retries exhausted, reach
// FunctionCallCallbacks::on_reject (the processor dead-letters that record; without on_reject the
// call fails).
//
// Metrics (labelled transport="http"): runnel_processor_function_requests_total{code},
// runnel_processor_function_request_seconds, runnel_processor_function_retries_total{reason},
// runnel_processor_function_requests_in_flight.
//
// Thread-safety: the transport and its calls are thread-safe; callbacks run on the I/O thread.
// REQUIRES: every call is cancelled or completed before the transport is destroyed (the processor
// waits for on_done of each call).

#include <memory>

#include "common/metrics.h"
#include "sidecar/function_transport.h"
#include "sidecar/options.h"
#include "sidecar/retry_policy.h"

namespace runnel::sidecar {

std::unique_ptr<FunctionTransport> NewHttpFunctionTransport(const HttpFunctionOptions& options,
                                                            const RetryOptions& retry,
                                                            MetricsRegistry& metrics);

}  // namespace runnel::sidecar
