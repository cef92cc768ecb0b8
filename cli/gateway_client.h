#pragma once
// The CLI's view of one gateway: runnel.v1.Gateway for stream administration and liiklus for
// publish, subscribe and consumer lag. Blocking calls with deadlines, for the CLI's main thread.
// Thread-compatible (Subscribe uses threads of its own internally).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "liiklus/LiiklusService.grpc.pb.h"
#include "runnel/v1/gateway.grpc.pb.h"

namespace runnel::cli {

namespace liiklus = ::com::github::bsideup::liiklus;

struct SubscribeOptions {
  std::string topic;
  std::string group;
  bool from_beginning = false;
};

class GatewayClient {
 public:
  // `address` is "host:port" of the gateway's gRPC port. Unary calls give up after `deadline`.
  explicit GatewayClient(std::string address, absl::Duration deadline = absl::Seconds(5));

  const std::string& address() const { return address_; }

  // Errors are the gateway's (kNotFound, kAlreadyExists, kInvalidArgument), or kUnavailable
  // naming the address when nothing answers there.
  absl::StatusOr<v1::Stream> CreateStream(const v1::Stream& stream, bool if_not_exists);
  absl::StatusOr<v1::Stream> GetStream(const std::string& name);
  absl::StatusOr<std::vector<v1::Stream>> ListStreams();
  absl::Status DeleteStream(const std::string& name);
  absl::StatusOr<liiklus::PublishReply> Publish(const liiklus::PublishRequest& request);

  // Records of `topic` not yet acknowledged by `group`: per partition, the next offset to be
  // written minus the group's next offset (its last acknowledged offset + 1, or the partition's
  // first retained offset when the group has acknowledged nothing there).
  absl::StatusOr<int64_t> Lag(const std::string& topic, const std::string& group);

  // Joins `options.group` on the topic and calls `on_record` (serialised, from an internal thread)
  // for every record of every assigned partition, acknowledging each after `on_record` returns.
  // Returns when `on_record` returns false, when `stop` becomes true (polled every 50 ms), or on an
  // error from the gateway (returned).
  using RecordCallback =
      std::function<bool(uint32_t partition, const liiklus::ReceiveReply::LiiklusEventRecord&)>;
  absl::Status Subscribe(const SubscribeOptions& options, const RecordCallback& on_record,
                         const std::atomic<bool>& stop);

 private:
  std::unique_ptr<grpc::ClientContext> NewContext() const;
  absl::Status Convert(const grpc::Status& status, absl::string_view op) const;

  std::string address_;
  absl::Duration deadline_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Gateway::Stub> gateway_;
  std::unique_ptr<liiklus::LiiklusService::Stub> liiklus_;
};

}  // namespace runnel::cli
