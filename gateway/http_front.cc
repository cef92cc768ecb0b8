#include "gateway/http_front.h"

#include <future>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "gateway/runnel_service.h"

namespace runnel::gateway {
namespace {

using nlohmann::json;

HttpResponse Json(int status, const json& body) {
  return {.status = status,
          .content_type = "application/json",
          .body = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

json StreamJson(const v1::Stream& s) {
  json partitions = json::array();
  for (const auto& p : s.partition_info()) {
    partitions.push_back(
        {{"partition", p.partition()}, {"start_offset", p.start_offset()}, {"end_offset", p.end_offset()}});
  }
  return {{"name", s.name()},
          {"partitions", s.partitions()},
          {"content_type", s.content_type()},
          {"created_unix_ms", s.created_unix_ms()},
          {"partition_info", partitions}};
}

bool IsTextual(const std::string& content_type) {
  return absl::StartsWith(content_type, "text/") || absl::StrContains(content_type, "json") ||
         absl::StrContains(content_type, "xml");
}

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kInvalidArgument:
      return HasReason(status, kReasonContentType) ? 415 : 400;
    case absl::StatusCode::kOutOfRange:
      return 416;
    case absl::StatusCode::kResourceExhausted:
      return HasReason(status, kReasonTooLarge) ? 413 : 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kFailedPrecondition:
      return 412;
    case absl::StatusCode::kUnimplemented:
      return 501;
    default:
      return 500;
  }
}

HttpResponse HttpFront::Failure(const absl::Status& status, const char* method) {
  gateway_->CountError("http", method, status.code());
  return JsonError(HttpStatusFor(status), std::string(status.message()));
}

void HttpFront::Handle(HttpRequest request, HttpRespond respond) {
  if (!gateway_->BeginCall()) {
    std::move(respond)(JsonError(503, "gateway is shutting down"));
    return;
  }
  Gateway* gateway = gateway_;
  respond = [gateway, inner = std::move(respond)](HttpResponse response) mutable {
    std::move(inner)(std::move(response));
    gateway->EndCall();
  };
  bool responded = false;
  HttpResponse response = Route(request, respond, responded);
  if (!responded) {
    std::move(respond)(std::move(response));
  }
}

HttpResponse HttpFront::Route(const HttpRequest& request, HttpRespond& respond, bool& responded) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  if (path == "/healthz") {
    return {.body = "ok\n"};
  }
  if (path == "/readyz") {
    if (!ready_) return HttpResponse{.status = 503, .body = "not ready\n"};
    if (check_) {
      if (absl::Status s = check_(); !s.ok()) {
        return HttpResponse{.status = 503, .body = absl::StrCat("not ready: ", s.message(), "\n")};
      }
    }
    return HttpResponse{.body = "ready\n"};
  }
  if (path == "/metrics" && method == "GET") {
    return {.content_type = "text/plain; version=0.0.4; charset=utf-8", .body = metrics_->Render()};
  }
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (!parts.empty() && parts[0] == "streams" && method != "PUT") {
    if (parts.size() == 1) {
      if (method == "GET") {
        json list = json::array();
        for (const StreamSpec& spec : gateway_->store().ListStreams()) {
          absl::StatusOr<v1::Stream> s = DescribeStream(gateway_->store(), spec.name);
          if (s.ok()) list.push_back(StreamJson(*s));
        }
        return Json(200, {{"streams", list}});
      }
      if (method == "POST") return CreateStream(request);
      return JsonError(405, "use GET or POST on /streams");
    }
    const std::string& name = parts[1];
    if (parts.size() == 2) {
      if (method == "GET") {
        absl::StatusOr<v1::Stream> s = DescribeStream(gateway_->store(), name);
        return s.ok() ? Json(200, StreamJson(*s)) : Failure(s.status(), "GetStream");
      }
      if (method == "DELETE") {
        absl::Status s = gateway_->store().DeleteStream(name);
        if (!s.ok()) return Failure(s, "DeleteStream");
        RUNNEL_LOG(INFO) << "deleted stream" << Kv("stream", name);
        return {.status = 204};
      }
      if (method == "POST") {
        responded = true;
        PublishRecord(name, request, std::move(respond));
        return {};
      }
      return JsonError(405, "use GET, POST or DELETE on /streams/{name}");
    }
    if (parts.size() == 3 && parts[2] == "records") {
      if (method != "GET") return JsonError(405, "use GET on /streams/{name}/records");
      return ReadRecords(name, request);
    }
    return JsonError(404, absl::StrCat("no such resource: ", path));
  }
  if (method != "PUT") {
    return {.status = 405, .body = "Method not allowed: use PUT /<namespace>/<stream-name>\n"};
  }
  return Provision(request);
}

HttpResponse HttpFront::Provision(const HttpRequest& request) {
  std::vector<std::string> parts = absl::StrSplit(request.path, '/', absl::SkipEmpty());
  if (parts.size() != 2) {
    // riff's provisioner answers exactly this.
    return {.status = 400, .body = "URLs should be of the form /<namespace>/<stream-name>\n"};
  }
  const std::string topic = absl::StrCat(parts[0], "_", parts[1]);
  absl::StatusOr<StreamSpec> created =
      gateway_->store().CreateStream({.name = topic, .partitions = 1, .content_type = "*/*"});
  int status = 201;
  if (created.status().code() == absl::StatusCode::kAlreadyExists) {
    status = 200;
  } else if (!created.ok()) {
    gateway_->CountError("http", "Provision", created.status().code());
    return {.status = created.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 500,
            .body = absl::StrCat("Error creating topic \"", topic, "\": ",
                                 created.status().message(), "\n")};
  } else {
    RUNNEL_LOG(INFO) << "provisioned stream" << Kv("stream", topic);
  }
  return Json(status, {{"gateway", advertised_}, {"topic", topic}});
}

HttpResponse HttpFront::CreateStream(const HttpRequest& request) {
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return JsonError(400, "body must be a JSON object like {\"name\":\"s\",\"partitions\":1,"
                          "\"content_type\":\"application/json\"}");
  }
  StreamSpec spec;
  auto name = body.find("name");
  if (name == body.end() || !name->is_string()) return JsonError(400, "\"name\" (a string) is required");
  spec.name = name->get<std::string>();
  if (auto p = body.find("partitions"); p != body.end()) {
    if (!p->is_number_integer()) return JsonError(400, "\"partitions\" must be an integer");
    spec.partitions = p->get<int32_t>();
  }
  if (auto ct = body.find("content_type"); ct != body.end()) {
    if (!ct->is_string()) return JsonError(400, "\"content_type\" must be a string");
    spec.content_type = ct->get<std::string>();
  }
  absl::StatusOr<StreamSpec> created = gateway_->store().CreateStream(spec);
  if (!created.ok()) return Failure(created.status(), "CreateStream");
  RUNNEL_LOG(INFO) << "created stream" << Kv("stream", created->name)
                   << Kv("partitions", created->partitions)
                   << Kv("content_type", created->content_type);
  absl::StatusOr<v1::Stream> s = DescribeStream(gateway_->store(), spec.name);
  return s.ok() ? Json(201, StreamJson(*s)) : Failure(s.status(), "CreateStream");
}

void HttpFront::PublishRecord(const std::string& name, const HttpRequest& request,
                              HttpRespond respond) {
  v1::Record record;
  record.set_id(NewEventId());
  record.set_type("runnel.http.publish");
  record.set_source("/runnel/http");
  record.set_time(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  record.set_data_content_type(request.Header("content-type"));
  record.set_data(request.body);
  std::string key = request.Header("x-runnel-key");
  if (auto it = request.query.find("key"); it != request.query.end()) key = it->second;
  record.set_key(key);
  std::vector<v1::Record> records;
  records.push_back(std::move(record));
  const absl::Time start = absl::Now();
  Gateway* gateway = gateway_;
  gateway_->Publish(
      name, std::move(records), std::nullopt,
      [this, gateway, name, start,
       respond = std::move(respond)](absl::StatusOr<std::vector<RecordPosition>> r) mutable {
        if (!r.ok()) {
          std::move(respond)(Failure(r.status(), "Publish"));
          return;
        }
        gateway->PublishLatency("http").Observe(absl::ToDoubleSeconds(absl::Now() - start));
        std::move(respond)(Json(200, {{"topic", name},
                                      {"partition", (*r)[0].partition},
                                      {"offset", (*r)[0].offset}}));
      });
}

HttpResponse HttpFront::ReadRecords(const std::string& name, const HttpRequest& request) {
  auto number = [&](const char* param, uint64_t fallback, uint64_t* out) {
    auto it = request.query.find(param);
    if (it == request.query.end()) {
      *out = fallback;
      return true;
    }
    return absl::SimpleAtoi(it->second, out);
  };
  uint64_t partition_arg, offset_arg, limit_arg;
  if (!number("partition", 0, &partition_arg) || !number("offset", 0, &offset_arg) ||
      !number("limit", 100, &limit_arg)) {
    return JsonError(400, "partition, offset and limit must be non-negative integers");
  }
  const int64_t limit = static_cast<int64_t>(std::clamp<uint64_t>(limit_arg, 1, 10'000));
  absl::StatusOr<Partition> checked_partition = ClientPartition(name, partition_arg);
  if (!checked_partition.ok()) return Failure(checked_partition.status(), "ReadRecords");
  const Partition partition = *checked_partition;
  absl::StatusOr<PartitionBounds> bounds = gateway_->store().GetBounds(name, partition);
  if (!bounds.ok()) return Failure(bounds.status(), "ReadRecords");
  absl::StatusOr<Offset> checked_offset = ClientOffset(name, partition, offset_arg);
  if (!checked_offset.ok()) return Failure(checked_offset.status(), "ReadRecords");
  if (*checked_offset > bounds->end) {
    // docs/errors.md: past the end is 416; at the end is an empty page (nothing yet).
    return Failure(absl::OutOfRangeError(absl::StrCat(
                       "offset ", *checked_offset, " is beyond the end of partition ", partition,
                       " of stream '", name, "' (next offset ", bounds->end, ")")),
                   "ReadRecords");
  }
  json records = json::array();
  Offset offset = std::max(*checked_offset, bounds->start);
  if (offset < bounds->end) {
    absl::StatusOr<std::unique_ptr<PartitionReader>> reader = gateway_->store().OpenReader(
        name, static_cast<Partition>(partition), StartAt::At(offset));
    if (!reader.ok()) return Failure(reader.status(), "ReadRecords");
    const size_t want = static_cast<size_t>(std::min<int64_t>(limit, bounds->end - offset));
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    size_t got = 0;
    while (got < want && absl::Now() < deadline) {
      auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
      auto future = promise->get_future();
      (*reader)->Next(want - got, 4 << 20, [promise](absl::StatusOr<std::vector<StoredRecord>> r) {
        promise->set_value(std::move(r));
      });
      if (future.wait_for(absl::ToChronoMilliseconds(deadline - absl::Now())) !=
          std::future_status::ready) {
        break;  // Destroying the reader cancels the pending read.
      }
      absl::StatusOr<std::vector<StoredRecord>> batch = future.get();
      if (!batch.ok()) return Failure(batch.status(), "ReadRecords");
      for (const StoredRecord& r : *batch) {
        liiklus::LiiklusEvent e = ToEvent(r.record, name, static_cast<Partition>(partition), r.offset);
        json j = {{"offset", r.offset},
                  {"partition", partition},
                  {"timestamp_ms", r.record.timestamp_ms()},
                  {"id", e.id()},
                  {"type", e.type()},
                  {"source", e.source()},
                  {"content_type", e.data_content_type()}};
        if (!e.time().empty()) j["time"] = e.time();
        if (!r.record.key().empty()) j["key"] = r.record.key();
        if (!e.extensions().empty()) {
          j["extensions"] = std::map<std::string, std::string>(e.extensions().begin(),
                                                               e.extensions().end());
        }
        if (IsTextual(e.data_content_type())) {
          j["data"] = r.record.data();
        } else {
          j["data_base64"] = absl::Base64Escape(r.record.data());
        }
        records.push_back(std::move(j));
        ++got;
      }
    }
  }
  return Json(200, {{"stream", name}, {"partition", partition}, {"records", records}});
}

}  // namespace runnel::gateway
