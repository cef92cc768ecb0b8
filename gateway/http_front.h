#pragma once
// The gateway's HTTP port: riff's provisioner API (PUT /<namespace>/<stream>), stream
// administration and ingress under /streams, health (/healthz, /readyz) and /metrics.
//
//   GET    /streams                    list streams (JSON)
//   POST   /streams                    create {"name", "partitions", "content_type"} → 201
//   GET    /streams/{name}             describe a stream
//   DELETE /streams/{name}             delete → 204
//   POST   /streams/{name}             publish the body as one record (Content-Type; key from
//                                      the X-Runnel-Key header or ?key=) → 200 {topic,partition,offset}
//   GET    /streams/{name}/records     records from ?partition=&offset=&limit= (JSON, no waiting)
//   PUT    /{namespace}/{stream}       riff provisioner: create "<namespace>_<stream>" → 201/200

#include <atomic>
#include <functional>
#include <string>

#include "common/http_server.h"
#include "common/metrics.h"
#include "gateway/gateway.h"

namespace runnel::gateway {

class HttpFront {
 public:
  // `advertised_grpc_address` is what the provisioner API tells riff clients to dial.
  HttpFront(Gateway* gateway, MetricsRegistry* metrics, std::string advertised_grpc_address)
      : gateway_(gateway), metrics_(metrics), advertised_(std::move(advertised_grpc_address)) {}

  // Serves one request. Runs on an HTTP server thread (ours: it may block on the store).
  void Handle(HttpRequest request, HttpRespond respond);

  // /readyz answers 200 only while ready and `check` (when set) is OK; otherwise 503 with the
  // check's message. Set before serving.
  void SetReady(bool ready) { ready_ = ready; }
  void SetReadinessCheck(std::function<absl::Status()> check) { check_ = std::move(check); }

 private:
  HttpResponse Route(const HttpRequest& request, HttpRespond& respond, bool& responded);
  HttpResponse Provision(const HttpRequest& request);
  HttpResponse CreateStream(const HttpRequest& request);
  HttpResponse ReadRecords(const std::string& name, const HttpRequest& request);
  void PublishRecord(const std::string& name, const HttpRequest& request, HttpRespond respond);
  HttpResponse Failure(const absl::Status& status, const char* method);

  Gateway* const gateway_;
  MetricsRegistry* const metrics_;
  const std::string advertised_;
  std::atomic<bool> ready_{false};
  std::function<absl::Status()> check_;
};

// The HTTP status for a Status from the gateway core.
int HttpStatusFor(const absl::Status& status);

}  // namespace runnel::gateway
