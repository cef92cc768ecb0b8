#pragma once
// The pure half of the HTTP function transport: what a record's POST looks like, what becomes of
// the response, which failures are retried, and the reorder buffer that keeps outputs in input
// order with many requests in flight. No I/O, no threads; http_function_transport.cc is the
// Beast shell around it.
//
// Mapping (riff's request-reply spec and streaming-http-adapter, in the other direction). Header
// names follow the one rule of common/header_names.h in both directions, as on riff-rpc:
//   request:  body = payload; Content-Type = the record's content type; Accept = the output
//             stream's content type; X-Runnel-Key = the input record's key (the frame header
//             runnel::kKeyHeader); each other frame header, a CloudEvent extension name, as the
//             request header HeaderName(extension) ("h0x0salutation" -> "x-salutation",
//             "traceparent" -> "traceparent"), except ones that would clash with Content-Type,
//             Accept, X-Runnel-Key or the HTTP framing (Host, Content-Length, Connection, ...).
//   response: 2xx: body = payload, Content-Type = content type (application/octet-stream when
//             absent), X-Runnel-Key = the output record's key (the output frame header "key",
//             which runnel-processor reads as the key), other headers = output headers named
//             ExtensionName(header) ("X-Greeted-By" -> "h0x0greeted0by"), except transport
//             headers and names that would shadow a CloudEvent attribute (Id, Source, ...).
//             204 No Content: no output (the function filtered it).
//             408, 429, 5xx: retried. Other statuses: refused for good (dead letter), with the
//             status and body in extensions runnelhttpstatus and runnelhttpbody.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "riff/riff-rpc.pb.h"
#include "sidecar/options.h"

namespace runnel::sidecar {

// Parses "http://host[:port][/path]" into `options` (host, port, target, url). INVALID_ARGUMENT
// names what is wrong; https is refused (put a TLS-terminating proxy in front).
absl::Status ParseFunctionUrl(const std::string& url, HttpFunctionOptions* options);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpFunctionRequest {
  std::string content_type;
  std::string accept;
  HttpHeaders headers;  // Besides Content-Type and Accept.
  std::string body;
};

// The POST for one input frame; `accept` is the output stream's content type ("*/*" for a sink).
// The frame's headers are extension names, as runnel-processor copies them from the record, plus
// the input key under runnel::kKeyHeader when the record has one.
HttpFunctionRequest RequestForFrame(streaming::InputFrame frame, const std::string& accept);

struct HttpFunctionResponse {
  int status = 0;
  std::string content_type;  // Empty when the response had none.
  HttpHeaders headers;       // Besides Content-Type; names as received.
  std::string body;
};

// What becomes of one response.
struct HttpVerdict {
  enum class Kind {
    kOutput,    // 2xx: `output` is the function's result.
    kNoOutput,  // 204: processed, nothing to publish.
    kRetry,     // 408, 429, 5xx: try again after a back-off; `status` says why.
    kReject,    // Anything else: refused for good; `status` and `detail` go with the dead letter.
  };
  Kind kind = Kind::kOutput;
  streaming::OutputFrame output;
  absl::Status status;
  std::map<std::string, std::string> detail;
};

// `url` names the function in error messages.
HttpVerdict ClassifyResponse(HttpFunctionResponse response, absl::string_view url);

// At most `max_bytes` of `text` as valid UTF-8 (invalid bytes become '?', a cut character is
// dropped): extension values and error messages are protobuf strings.
std::string Utf8Excerpt(absl::string_view text, size_t max_bytes);

// Results of requests that complete in any order, handed out in the order the requests were
// made. Thread-compatible (one owner).
template <typename T>
class ReorderBuffer {
 public:
  // Reserves the next position; returns its index (0, 1, 2, ...).
  size_t Add() {
    slots_.emplace_back();
    return base_ + slots_.size() - 1;
  }
  // Stores the result of position `index`. REQUIRES: Add() returned `index`, not yet completed.
  void Complete(size_t index, T value) { slots_[index - base_] = std::move(value); }
  // Removes and returns the results now ready in order: every completed position up to the first
  // one still waiting.
  std::vector<T> TakeReady() {
    std::vector<T> out;
    while (!slots_.empty() && slots_.front().has_value()) {
      out.push_back(*std::move(slots_.front()));
      slots_.pop_front();
      ++base_;
    }
    return out;
  }
  // Positions added and not yet taken.
  size_t pending() const { return slots_.size(); }

 private:
  size_t base_ = 0;  // Index of slots_.front().
  std::deque<std::optional<T>> slots_;
};

}  // namespace runnel::sidecar
