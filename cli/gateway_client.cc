#include "cli/gateway_client.h"

#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace runnel::cli {

GatewayClient::GatewayClient(std::string address, absl::Duration deadline)
    : address_(std::move(address)),
      deadline_(deadline),
      channel_(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())),
      gateway_(v1::Gateway::NewStub(channel_)),
      liiklus_(liiklus::LiiklusService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> GatewayClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  return context;
}

absl::Status GatewayClient::Convert(const grpc::Status& status, absl::string_view op) const {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(absl::StrCat(op, ": gateway at ", address_,
                                               " is not answering (", status.error_message(), ")"));
  }
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), absl::StrCat(op, ": ", s.message()));
}

absl::StatusOr<v1::Stream> GatewayClient::CreateStream(const v1::Stream& stream,
                                                       bool if_not_exists) {
  v1::CreateStreamRequest request;
  *request.mutable_stream() = stream;
  request.set_if_not_exists(if_not_exists);
  v1::Stream reply;
  auto context = NewContext();
  grpc::Status s = gateway_->CreateStream(context.get(), request, &reply);
  if (!s.ok()) return Convert(s, absl::StrCat("create stream \"", stream.name(), "\""));
  return reply;
}

absl::StatusOr<v1::Stream> GatewayClient::GetStream(const std::string& name) {
  v1::GetStreamRequest request;
  request.set_name(name);
  v1::Stream reply;
  auto context = NewContext();
  grpc::Status s = gateway_->GetStream(context.get(), request, &reply);
  if (!s.ok()) return Convert(s, absl::StrCat("get stream \"", name, "\""));
  return reply;
}

absl::StatusOr<std::vector<v1::Stream>> GatewayClient::ListStreams() {
  v1::ListStreamsReply reply;
  auto context = NewContext();
  grpc::Status s = gateway_->ListStreams(context.get(), v1::ListStreamsRequest(), &reply);
  if (!s.ok()) return Convert(s, "list streams");
  return std::vector<v1::Stream>(reply.streams().begin(), reply.streams().end());
}

absl::Status GatewayClient::DeleteStream(const std::string& name) {
  v1::DeleteStreamRequest request;
  request.set_name(name);
  v1::DeleteStreamReply reply;
  auto context = NewContext();
  return Convert(gateway_->DeleteStream(context.get(), request, &reply),
                 absl::StrCat("delete stream \"", name, "\""));
}

absl::StatusOr<liiklus::PublishReply> GatewayClient::Publish(
    const liiklus::PublishRequest& request) {
  liiklus::PublishReply reply;
  auto context = NewContext();
  grpc::Status s = liiklus_->Publish(context.get(), request, &reply);
  if (!s.ok()) return Convert(s, absl::StrCat("publish to \"", request.topic(), "\""));
  return reply;
}

absl::StatusOr<int64_t> GatewayClient::Lag(const std::string& topic, const std::string& group) {
  absl::StatusOr<v1::Stream> stream = GetStream(topic);
  if (!stream.ok()) return stream.status();
  liiklus::GetOffsetsRequest request;
  request.set_topic(topic);
  request.set_group(group);
  liiklus::GetOffsetsReply reply;
  auto context = NewContext();
  grpc::Status s = liiklus_->GetOffsets(context.get(), request, &reply);
  if (!s.ok()) return Convert(s, absl::StrCat("offsets of group \"", group, "\""));
  int64_t lag = 0;
  for (const v1::PartitionInfo& p : stream->partition_info()) {
    int64_t next = p.start_offset();
    if (auto it = reply.offsets().find(static_cast<uint32_t>(p.partition()));
        it != reply.offsets().end()) {
      next = std::max<int64_t>(next, static_cast<int64_t>(it->second) + 1);
    }
    lag += std::max<int64_t>(0, p.end_offset() - next);
  }
  return lag;
}

absl::Status GatewayClient::Subscribe(const SubscribeOptions& options,
                                      const RecordCallback& on_record,
                                      const std::atomic<bool>& stop) {
  // Contexts of every call in flight, so that stopping can cancel the blocked reads.
  std::mutex mu;
  std::vector<std::shared_ptr<grpc::ClientContext>> contexts;
  absl::Status first_error;
  std::atomic<bool> done{false};
  auto fail = [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    if (first_error.ok() && !done.load()) first_error = std::move(s);
    done = true;
  };
  auto track = [&]() {
    auto c = std::make_shared<grpc::ClientContext>();
    std::lock_guard<std::mutex> lock(mu);
    contexts.push_back(c);
    if (done.load()) c->TryCancel();
    return c;
  };
  std::mutex callback_mu;
  std::vector<std::jthread> receivers;

  std::jthread subscriber([&]() {
    liiklus::SubscribeRequest request;
    request.set_topic(options.topic);
    request.set_group(options.group);
    request.set_auto_offset_reset(options.from_beginning ? liiklus::SubscribeRequest::EARLIEST
                                                         : liiklus::SubscribeRequest::LATEST);
    std::shared_ptr<grpc::ClientContext> context = track();
    auto reader = liiklus_->Subscribe(context.get(), request);
    liiklus::SubscribeReply reply;
    while (reader->Read(&reply)) {
      if (!reply.has_assignment()) continue;
      liiklus::Assignment assignment = reply.assignment();
      receivers.emplace_back([&, assignment]() {
        liiklus::ReceiveRequest receive;
        *receive.mutable_assignment() = assignment;
        receive.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
        std::shared_ptr<grpc::ClientContext> rc = track();
        auto records = liiklus_->Receive(rc.get(), receive);
        liiklus::ReceiveReply record;
        while (records->Read(&record)) {
          if (!record.has_liiklus_event_record()) continue;
          {
            std::lock_guard<std::mutex> lock(callback_mu);
            if (done.load()) break;
            if (!on_record(assignment.partition(), record.liiklus_event_record())) {
              done = true;
            }
          }
          liiklus::AckRequest ack;
          ack.set_topic(options.topic);
          ack.set_group(options.group);
          ack.set_partition(assignment.partition());
          ack.set_offset(record.liiklus_event_record().offset());
          google::protobuf::Empty empty;
          auto ac = NewContext();
          grpc::Status s = liiklus_->Ack(ac.get(), ack, &empty);
          if (!s.ok()) {
            fail(Convert(s, "acknowledge"));
            break;
          }
          if (done.load()) break;
        }
        grpc::Status s = records->Finish();
        if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) {
          fail(Convert(s, absl::StrCat("receive from \"", options.topic, "\"")));
        }
      });
    }
    grpc::Status s = reader->Finish();
    if (!s.ok() && s.error_code() != grpc::StatusCode::CANCELLED) {
      fail(Convert(s, absl::StrCat("subscribe to \"", options.topic, "\"")));
    }
  });

  while (!done.load() && !stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    for (auto& c : contexts) c->TryCancel();
  }
  subscriber.join();  // the subscriber thread is the only one adding receivers
  receivers.clear();  // joins them
  std::lock_guard<std::mutex> lock(mu);
  return first_error;
}

}  // namespace runnel::cli
