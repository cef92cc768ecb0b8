#pragma once
// Blocking liiklus client helpers for the suites that drive a real runnel-gateway (any store):
// deadlines, a Subscribe stream read on a thread, bounded Receive, and request builders. Every
// wait is bounded by the timeout its caller passes (or the default here).

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "liiklus/LiiklusService.grpc.pb.h"

namespace runnel::testing {

namespace liiklus = ::com::github::bsideup::liiklus;

inline std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(10)) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return c;
}

// Reads a Subscribe stream on a thread, collecting assignments, until destroyed or `lifetime`
// passes.
class Subscription {
 public:
  Subscription(liiklus::LiiklusService::Stub& stub, const liiklus::SubscribeRequest& request,
               absl::Duration lifetime = absl::Seconds(240)) {
    context_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(lifetime));
    reader_ = stub.Subscribe(&context_, request);
    thread_ = std::thread([this] {
      liiklus::SubscribeReply reply;
      while (reader_->Read(&reply)) {
        absl::MutexLock lock(&mu_);
        assignments_.push_back(reply.assignment());
      }
      grpc::Status status = reader_->Finish();
      absl::MutexLock lock(&mu_);
      status_ = status;
    });
  }
  ~Subscription() {
    context_.TryCancel();
    thread_.join();
  }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Waits until at least `n` assignments arrived, the stream ended, or `timeout` passed; returns
  // all assignments so far.
  std::vector<liiklus::Assignment> WaitFor(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return assignments_.size() >= n || status_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    return std::vector<liiklus::Assignment>(assignments_.begin(), assignments_.end());
  }
  std::optional<grpc::Status> status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<liiklus::SubscribeReply>> reader_;
  std::thread thread_;
  absl::Mutex mu_;
  std::deque<liiklus::Assignment> assignments_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
};

struct Received {
  std::vector<liiklus::ReceiveReply> replies;
  grpc::Status status;  // OK if the stream ended by itself, CANCELLED if we stopped reading.
};

// Receives until `n` replies came, the stream ended, or `timeout` passed.
inline Received Receive(
    liiklus::LiiklusService::Stub& stub, const liiklus::Assignment& assignment, size_t n,
    liiklus::ReceiveRequest::ContentFormat format = liiklus::ReceiveRequest::LIIKLUS_EVENT,
    absl::Duration timeout = absl::Seconds(10)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  liiklus::ReceiveRequest request;
  *request.mutable_assignment() = assignment;
  request.set_format(format);
  auto reader = stub.Receive(&context, request);
  Received out;
  liiklus::ReceiveReply reply;
  while (out.replies.size() < n && reader->Read(&reply)) out.replies.push_back(reply);
  if (out.replies.size() >= n) context.TryCancel();
  out.status = reader->Finish();
  return out;
}

// A liiklus event carrying `data`, with extension "seq" = `data` (a header on Kafka).
inline liiklus::PublishRequest Event(const std::string& topic, const std::string& data,
                                     const std::string& key = "",
                                     const std::string& content_type = "text/plain") {
  liiklus::PublishRequest r;
  r.set_topic(topic);
  r.set_key(key);
  auto* e = r.mutable_liiklusevent();
  e->set_id(absl::StrCat("id-", data));
  e->set_type("test.event");
  e->set_source("/tests");
  e->set_data_content_type(content_type);
  e->set_data(data);
  (*e->mutable_extensions())["seq"] = data;
  return r;
}

inline liiklus::SubscribeRequest SubscribeRequest(const std::string& topic,
                                                  const std::string& group, bool latest = false) {
  liiklus::SubscribeRequest r;
  r.set_topic(topic);
  r.set_group(group);
  r.set_auto_offset_reset(latest ? liiklus::SubscribeRequest::LATEST
                                 : liiklus::SubscribeRequest::EARLIEST);
  return r;
}

inline liiklus::AckRequest AckRequest(const std::string& topic, const std::string& group,
                                      uint32_t partition, uint64_t offset) {
  liiklus::AckRequest r;
  r.set_topic(topic);
  r.set_group(group);
  r.set_partition(partition);
  r.set_offset(offset);
  return r;
}

}  // namespace runnel::testing
