// The Kafka record store. The only librdkafka user in Runnel (C++ API for the producer and
// consumers, the C API for admin requests, which the C++ API lacks).
//
// Mapping (liiklus's Kafka storage, with its defects fixed):
//  - A stream is a topic with the stream's partitions, created with
//    message.timestamp.type=LogAppendTime so that records carry the broker's time.
//  - Stream metadata (partitions, content type, creation time) is one record per stream in the
//    compacted topic `_runnel_streams` (key = stream name, value = "k=v" lines, tombstone on
//    delete). Topic configs cannot hold arbitrary keys and would need one DescribeConfigs round
//    trip per topic; the metadata topic is read once at start and tailed, so GetStream and
//    ListStreams answer from memory and every gateway replica sees creations and deletions.
//    See docs/decisions/0002-kafka-stream-metadata.md.
//  - A record is a CloudEvent in Kafka's binary mode, as liiklus writes it: value = data,
//    key = key, headers ce_specversion=1.0, ce_id, ce_type, ce_source, ce_time,
//    ce_datacontenttype and ce_<name> per extension. A Kafka record without ce_specversion
//    (written by a foreign producer, or through liiklus's deprecated `value`) reads back as a
//    record with data = value and no id.
//  - A group (name, version) on stream S is the Kafka consumer group "S/name" (version 0) or
//    "S/name-v<version>". Scoping by stream matches the other stores (a group on one stream is
//    independent of the same group on another, so joining one never rebalances the other); '/'
//    cannot occur in a stream name, so the stream part is unambiguous. "-v<version>" is
//    liiklus's legacy spelling, so the group ("g-v2", 0) is the group ("g", 2), as in liiklus.
//  - A group position (liiklus: the last acknowledged offset) is the group's committed offset
//    minus one (Kafka commits the next offset to read). Positions are committed through a local
//    member of the group when there is one, else with AlterConsumerGroupOffsets, which the
//    broker accepts only while the group has no active member elsewhere.
//  - GetBounds is the partition's watermarks: start = low, end = high; an empty partition has
//    start == end (never the -1 liiklus's GetEndOffsets wraps to 2^64-1).
//
// Threads: the producer's poll thread (delivery reports: Append's `done`), the metadata thread
// (tails `_runnel_streams`), the commit thread (CommitPosition's `done`), one thread per reader
// and per group membership (each owns a consumer). librdkafka errors are logged at most once
// per 30 s per client and error, never in a loop.

#include "gateway/stores/kafka_record_store.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runnel::gateway {
namespace {

constexpr char kStreamsTopic[] = "_runnel_streams";
constexpr int kAdminTimeoutMs = 30'000;
constexpr int kQueryTimeoutMs = 10'000;
constexpr absl::Duration kStartupTimeout = absl::Seconds(30);
// Appends in flight (queued in librdkafka or awaiting acks) before Append answers
// RESOURCE_EXHAUSTED. Below queue.buffering.max.messages, so produce() never finds it full.
constexpr int64_t kMaxInFlightRecords = 500'000;
constexpr int kPollMs = 100;
// Messages a reader takes from librdkafka per poll (and the size of its buffer for them).
constexpr size_t kMaxMessagesPerPoll = 10'000;

// --- Errors --------------------------------------------------------------------------------

// The one conversion from librdkafka's error codes to ours. Anything not known to be the
// caller's fault or a missing object is treated as a transient broker problem.
absl::Status KafkaStatus(RdKafka::ErrorCode code, absl::string_view op,
                         absl::string_view detail = "") {
  if (code == RdKafka::ERR_NO_ERROR) return absl::OkStatus();
  std::string message = absl::StrCat(op, ": ", RdKafka::err2str(code));
  if (!detail.empty() && detail != RdKafka::err2str(code)) absl::StrAppend(&message, " (", detail, ")");
  switch (code) {
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__UNKNOWN_PARTITION:
    case RdKafka::ERR_GROUP_ID_NOT_FOUND:
      return absl::NotFoundError(message);
    case RdKafka::ERR_TOPIC_ALREADY_EXISTS:
      return absl::AlreadyExistsError(message);
    case RdKafka::ERR_INVALID_PARTITIONS:
    case RdKafka::ERR_INVALID_REPLICATION_FACTOR:
    case RdKafka::ERR_INVALID_REPLICA_ASSIGNMENT:
    case RdKafka::ERR_TOPIC_EXCEPTION:
    case RdKafka::ERR_INVALID_CONFIG:
    case RdKafka::ERR_POLICY_VIOLATION:
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR__INVALID_ARG:
      return absl::InvalidArgumentError(message);
    case RdKafka::ERR__QUEUE_FULL:
      return absl::ResourceExhaustedError(message);
    case RdKafka::ERR_OFFSET_OUT_OF_RANGE:
      return absl::OutOfRangeError(message);
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

absl::Status KafkaStatus(rd_kafka_resp_err_t code, absl::string_view op, absl::string_view detail = "") {
  return KafkaStatus(static_cast<RdKafka::ErrorCode>(code), op, detail);
}

// Lets one message per key through every `interval`: librdkafka repeats an error for as long
// as its cause lasts (a broker down), and one line per 30 s says as much as a thousand.
class LogLimiter {
 public:
  bool Allow(const std::string& key) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = last_.try_emplace(key, now);
    if (!inserted) {
      if (now - it->second < absl::Seconds(30)) return false;
      it->second = now;
    }
    return true;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::Time> last_ ABSL_GUARDED_BY(mu_);
};

// Routes a client's errors and warnings into our log, rate-limited.
class EventLogger final : public RdKafka::EventCb {
 public:
  EventLogger(std::string client, LogLimiter* limiter) : client_(std::move(client)), limiter_(limiter) {}

  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (limiter_->Allow(absl::StrCat(client_, "/err/", static_cast<int>(event.err())))) {
          RUNNEL_LOG(WARNING) << "kafka client error" << Kv("client", client_)
                              << Kv("error", RdKafka::err2str(event.err()))
                              << Kv("detail", event.str()) << Kv("fatal", event.fatal());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        // CONFWARN: a producer property ignored by a consumer, or the reverse; expected, since
        // one property map configures every client.
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING && event.fac() != "CONFWARN" &&
            limiter_->Allow(absl::StrCat(client_, "/log/", event.fac()))) {
          RUNNEL_LOG(WARNING) << "kafka client" << Kv("client", client_) << Kv("facility", event.fac())
                              << Kv("detail", event.str());
        }
        break;
      default:
        break;
    }
  }

 private:
  const std::string client_;
  LogLimiter* const limiter_;
};

// --- Configuration -------------------------------------------------------------------------

using Properties = std::vector<std::pair<std::string, std::string>>;

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> MakeConf(const RecordStoreOptions::Kafka& options,
                                                        const Properties& defaults,
                                                        RdKafka::EventCb* events) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  auto set = [&](const std::string& key, const std::string& value) -> absl::Status {
    if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) {
      return absl::InvalidArgumentError(absl::StrCat("kafka property '", key, "': ", error));
    }
    return absl::OkStatus();
  };
  RUNNEL_RETURN_IF_ERROR(set("bootstrap.servers", options.bootstrap_servers));
  RUNNEL_RETURN_IF_ERROR(set("log.connection.close", "false"));
  for (const auto& [key, value] : defaults) RUNNEL_RETURN_IF_ERROR(set(key, value));
  // The user's properties (security, compression, linger, ...) override our defaults.
  for (const auto& [key, value] : options.properties) RUNNEL_RETURN_IF_ERROR(set(key, value));
  if (conf->set("event_cb", events, error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka event callback: ", error));
  }
  return conf;
}

// Consumers that read partitions by assign(): no group membership, no commits. librdkafka's
// KafkaConsumer insists on a group.id even then; it is never joined.
const Properties& ReaderProperties() {
  static const Properties* p = new Properties{
      {"group.id", "runnel-reader"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},  // Below the start (retention) means "from the start".
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "100"},
      // Prefetch limits. In librdkafka < 2.2, a partition whose prefetch queue reaches either
      // limit leaves the fetch list until its broker thread next wakes up, up to 1 s later (2.2
      // made that fetch.queue.backoff.ms). A reader that hands records on slower than the broker
      // serves them fills the queue, drains it, then idles for the rest of that second: with
      // the old 16 MiB / 100,000-record limits, reads ran at 130k rec/s against 1.6M raw
      // (docs/perf/kafka.md). Limits that take about a second to drain keep fetches flowing.
      // The byte limit is librdkafka's own default and bounds a reader's memory; the record
      // limit is set so that only the byte limit binds. Both can be overridden by properties.
      {"queued.min.messages", "1000000"},
      {"queued.max.messages.kbytes", "65536"},
      {"client.id", "runnel-reader"},
  };
  return *p;
}

// --- Records <-> Kafka messages ------------------------------------------------------------

constexpr char kCePrefix[] = "ce_";
constexpr size_t kCePrefixSize = 3;

// The record's CloudEvents binary-mode headers, or nullptr for a record without an id. C API:
// the C++ Headers wrapper builds a std::string per header name; this is the produce hot path.
rd_kafka_headers_t* CloudEventHeaders(const v1::Record& r) {
  if (r.id().empty()) return nullptr;  // Not an event: raw bytes only, as liiklus's `value`.
  rd_kafka_headers_t* h = rd_kafka_headers_new(6 + r.extensions_size());
  auto add = [h](absl::string_view name, absl::string_view value) {
    rd_kafka_header_add(h, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  };
  add("ce_specversion", "1.0");
  add("ce_id", r.id());
  if (!r.type().empty()) add("ce_type", r.type());
  if (!r.source().empty()) add("ce_source", r.source());
  if (!r.time().empty()) add("ce_time", r.time());
  if (!r.data_content_type().empty()) add("ce_datacontenttype", r.data_content_type());
  for (const auto& [name, value] : r.extensions()) add(absl::StrCat(kCePrefix, name), value);
  return h;
}

// A consumed message as a record view into the message's own bytes (valid while the message
// lives), its extensions in `extensions` (cleared first). C API: the C++ Headers::get_all()
// copies every header's name and value, and this runs once per record read.
RecordView MessageView(const rd_kafka_message_t* m,
                       std::vector<RecordView::Extension>* extensions) {
  RecordView r{.offset = m->offset};
  if (m->payload != nullptr) {
    r.data = absl::string_view(static_cast<const char*>(m->payload), m->len);
  }
  if (m->key != nullptr) {
    r.key = absl::string_view(static_cast<const char*>(m->key), m->key_len);
  }
  rd_kafka_timestamp_type_t timestamp_type;
  r.timestamp_ms = rd_kafka_message_timestamp(m, &timestamp_type);
  extensions->clear();
  rd_kafka_headers_t* headers = nullptr;  // Owned by the message.
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return r;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, "ce_specversion", &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return r;  // Not an event.
  }
  const char* name = nullptr;
  for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    const absl::string_view key(name);
    if (key.size() <= kCePrefixSize || key.substr(0, kCePrefixSize) != kCePrefix) continue;
    const absl::string_view field = key.substr(kCePrefixSize);
    const absl::string_view v = value == nullptr ? absl::string_view() : absl::string_view(static_cast<const char*>(value), size);
    if (field == "specversion") continue;
    if (field == "id") r.id = v;
    else if (field == "type") r.type = v;
    else if (field == "source") r.source = v;
    else if (field == "time") r.time = v;
    else if (field == "datacontenttype") r.data_content_type = v;
    else extensions->emplace_back(field, v);
  }
  r.extensions = *extensions;
  return r;
}

// About the size of the record a message becomes, for Next()'s byte budget: its data, key and
// header bytes. An over-estimate of the record's wire size (header names are longer than proto
// field tags), cheaper than building the record and calling ByteSizeLong().
size_t EstimatedSize(const rd_kafka_message_t* m) {
  size_t size = m->len + m->key_len + 16;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t value_size = 0;
    for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &value_size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      size += std::strlen(name) + value_size + 4;
    }
  }
  return size;
}

// --- Stream metadata records ---------------------------------------------------------------

std::string EncodeSpec(const StreamSpec& spec) {
  return absl::StrCat("partitions=", spec.partitions, "\ncontent_type=", spec.content_type,
                      "\ncreated_unix_ms=", spec.created_unix_ms, "\n");
}

std::optional<StreamSpec> DecodeSpec(absl::string_view name, absl::string_view value) {
  StreamSpec spec;
  spec.name = std::string(name);
  for (absl::string_view line : absl::StrSplit(value, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    absl::string_view k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "partitions") {
      if (!absl::SimpleAtoi(v, &spec.partitions)) return std::nullopt;
    } else if (k == "content_type") {
      spec.content_type = std::string(v);
    } else if (k == "created_unix_ms") {
      if (!absl::SimpleAtoi(v, &spec.created_unix_ms)) return std::nullopt;
    }  // Unknown keys: written by a newer version; ignored.
  }
  if (spec.partitions < 1) return std::nullopt;
  return spec;
}

// --- Groups --------------------------------------------------------------------------------

std::string KafkaGroupId(absl::string_view stream, absl::string_view name, uint32_t version) {
  if (version == 0) return absl::StrCat(stream, "/", name);
  return absl::StrCat(stream, "/", name, "-v", version);
}

// The version `kafka_group` stands for in group `name` of `stream`, if it is one of them.
std::optional<uint32_t> GroupVersion(absl::string_view kafka_group, absl::string_view stream,
                                     absl::string_view name) {
  const std::string prefix = KafkaGroupId(stream, name, 0);
  if (kafka_group.size() < prefix.size() || kafka_group.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  absl::string_view rest = kafka_group.substr(prefix.size());
  if (rest.empty()) return 0u;
  uint32_t version = 0;
  if (rest.size() > 2 && rest.substr(0, 2) == "-v" && absl::SimpleAtoi(rest.substr(2), &version) &&
      version > 0 && rest.substr(2).find_first_not_of("0123456789") == absl::string_view::npos) {
    return version;
  }
  return std::nullopt;
}

// --- Admin requests (C API) ----------------------------------------------------------------

struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

// Issues one admin request on a private queue and waits (bounded) for its result event.
absl::StatusOr<EventPtr> AdminCall(rd_kafka_t* rk, rd_kafka_admin_op_t op_type,
                                   absl::string_view op, bool with_operation_timeout,
                                   const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& issue) {
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, op_type);
  char error[256];
  rd_kafka_AdminOptions_set_request_timeout(options, kAdminTimeoutMs, error, sizeof(error));
  if (with_operation_timeout) {
    rd_kafka_AdminOptions_set_operation_timeout(options, kAdminTimeoutMs, error, sizeof(error));
  }
  issue(options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, kAdminTimeoutMs + 5'000);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  if (event == nullptr) {
    return absl::UnavailableError(absl::StrCat(op, ": no answer from the brokers in time"));
  }
  EventPtr owned(event);
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(rd_kafka_event_error(event), op, rd_kafka_event_error_string(event));
  }
  return owned;
}

absl::Status TopicResultStatus(const rd_kafka_topic_result_t* const* results, size_t n,
                               absl::string_view op) {
  for (size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      return KafkaStatus(err, op, msg ? msg : "");
    }
  }
  return absl::OkStatus();
}

absl::Status CreateTopic(rd_kafka_t* rk, const std::string& topic, int32_t partitions,
                         int32_t replication_factor, const Properties& configs) {
  const std::string op = absl::StrCat("create topic '", topic, "'");
  char error[512];
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, replication_factor, error, sizeof(error));
  if (new_topic == nullptr) return absl::InvalidArgumentError(absl::StrCat(op, ": ", error));
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(new_topic, k.c_str(), v.c_str());
  auto event = AdminCall(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, op, true,
                         [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                           rd_kafka_CreateTopics(rk, &new_topic, 1, o, q);
                         });
  rd_kafka_NewTopic_destroy(new_topic);
  if (!event.ok()) return event.status();
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event->get()), &n);
  return TopicResultStatus(results, n, op);
}

absl::Status DeleteTopic(rd_kafka_t* rk, const std::string& topic) {
  const std::string op = absl::StrCat("delete topic '", topic, "'");
  rd_kafka_DeleteTopic_t* del = rd_kafka_DeleteTopic_new(topic.c_str());
  auto event = AdminCall(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, op, true,
                         [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                           rd_kafka_DeleteTopics(rk, &del, 1, o, q);
                         });
  rd_kafka_DeleteTopic_destroy(del);
  if (!event.ok()) return event.status();
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event->get()), &n);
  return TopicResultStatus(results, n, op);
}

absl::Status GroupResultStatus(const rd_kafka_group_result_t* const* groups, size_t n,
                               absl::string_view op) {
  for (size_t i = 0; i < n; ++i) {
    if (const rd_kafka_error_t* e = rd_kafka_group_result_error(groups[i])) {
      return KafkaStatus(rd_kafka_error_code(e), op, rd_kafka_error_string(e));
    }
    const rd_kafka_topic_partition_list_t* parts = rd_kafka_group_result_partitions(groups[i]);
    for (int j = 0; parts != nullptr && j < parts->cnt; ++j) {
      if (parts->elems[j].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return KafkaStatus(parts->elems[j].err, absl::StrCat(op, " partition ", parts->elems[j].partition));
      }
    }
  }
  return absl::OkStatus();
}

// --- The shared core -----------------------------------------------------------------------

// One Append in flight: completes when the delivery report of its last record arrives.
struct PendingAppend {
  RecordStore::AppendDone done;
  // For errors. Empty for Appends: their context is formatted from the failed message only
  // when one fails, not for every append on the hot path.
  std::string what;
  // Counts down to 0 as records are reported; whoever takes it to 0 completes the append. Every
  // writer of the fields below writes before its own fetch_sub (acq_rel), so the completer sees
  // them all without a lock. No mutex per append: absl::Mutex registers itself with the
  // deadlock detector and unregisters under a global lock, on the produce hot path.
  std::atomic<int64_t> remaining{0};
  // Delivery-report (poll) thread only, until completion.
  Offset first = std::numeric_limits<Offset>::max();
  absl::Status delivery_status;
  // Append's caller only: why the records it could not hand to librdkafka failed.
  absl::Status produce_status;
};

class KafkaCore;

// What a reader shares with the core, so that a deleted stream can fail waiting readers.
class ReaderState {
 public:
  absl::Mutex mu;
  absl::CondVar cv;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool deleted ABSL_GUARDED_BY(mu) = false;
  // The pending Next() or NextBatch(): at most one of them is set.
  PartitionReader::ReadDone pending ABSL_GUARDED_BY(mu);
  PartitionReader::BatchDone pending_batch ABSL_GUARDED_BY(mu);
  size_t max_records ABSL_GUARDED_BY(mu) = 0;
  size_t max_bytes ABSL_GUARDED_BY(mu) = 0;

  void MarkDeleted() {
    absl::MutexLock lock(&mu);
    deleted = true;
    cv.SignalAll();
  }
};

// A group member's consumer, shared with the commit thread (which commits through it).
struct MemberClient {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::string kafka_group;
};

class KafkaCore final : public std::enable_shared_from_this<KafkaCore>,
                        public RdKafka::DeliveryReportCb {
 public:
  explicit KafkaCore(RecordStoreOptions::Kafka options)
      : options_(std::move(options)), producer_events_("runnel-producer", &limiter_),
        metadata_events_("runnel-metadata", &limiter_) {}

  absl::Status Start();
  void Shutdown();

  // Streams.
  absl::StatusOr<StreamSpec> CreateStream(const StreamSpec& spec);
  absl::Status DeleteStream(absl::string_view name);
  absl::StatusOr<StreamSpec> GetStream(absl::string_view name);
  std::vector<StreamSpec> ListStreams();
  absl::Status CheckPartition(absl::string_view stream, Partition partition);

  // Records.
  void Append(absl::string_view stream, Partition partition, std::vector<v1::Record> records,
              RecordStore::AppendDone done);
  absl::StatusOr<PartitionBounds> GetBounds(absl::string_view stream, Partition partition);
  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(absl::string_view stream,
                                                              Partition partition, StartAt start);

  // Groups.
  absl::StatusOr<std::unique_ptr<GroupMembership>> JoinGroup(absl::string_view stream,
                                                              const GroupId& group,
                                                              RecordStore::AssignmentCallback on_change);
  void CommitPosition(absl::string_view stream, const GroupId& group, Partition partition,
                      Offset offset, RecordStore::CommitDone done);
  absl::StatusOr<GroupPositions> GetPositions(absl::string_view stream, absl::string_view group_name);

  // Registries, used by readers and memberships.
  void AddReader(const std::string& stream, ReaderState* reader);
  void RemoveReader(const std::string& stream, ReaderState* reader);
  void AddMember(std::shared_ptr<MemberClient> member);
  void RemoveMember(const MemberClient* member);

  const RecordStoreOptions::Kafka& options() const { return options_; }
  LogLimiter& limiter() { return limiter_; }

  void dr_cb(RdKafka::Message& message) override;
  // Runs `append`'s callback with its outcome and deletes it; by whoever counted it down to 0.
  static void CompleteAppend(PendingAppend* append);

 private:
  struct CachedStream {
    std::optional<StreamSpec> spec;  // nullopt: deleted (tombstone seen).
    int64_t metadata_offset = -1;
    rd_kafka_topic_t* topic = nullptr;  // The producer's handle, made by the first Append.
  };
  struct CommitJob {
    std::string kafka_group;
    std::string topic;
    Partition partition;
    Offset offset;
    RecordStore::CommitDone done;
  };

  // Sends one message and waits (bounded) for its delivery; returns its offset.
  absl::StatusOr<Offset> ProduceSync(const std::string& topic, Partition partition,
                                     const std::string& key, const std::string* value,
                                     absl::string_view what);
  // Applies a metadata record (from the tail or from our own write) to the cache.
  void ApplyMetadata(const std::string& name, std::optional<StreamSpec> spec, int64_t offset);
  absl::StatusOr<int32_t> TopicPartitionCount(const std::string& topic);
  // Waits until every partition of `topic` has a leader that answers offset queries, or
  // `deadline` passes; returns the last error then.
  absl::Status WaitUntilReadable(const std::string& topic, int32_t partitions, absl::Time deadline);
  absl::StatusOr<PartitionBounds> Watermarks(const std::string& topic, Partition partition);
  // Checks that `partition` exists and returns the stream's producer topic handle.
  absl::StatusOr<rd_kafka_topic_t*> ProduceTopic(absl::string_view stream, Partition partition);

  void PollLoop();
  void MetadataLoop(RdKafka::KafkaConsumer* consumer);
  void CommitLoop();
  absl::Status CommitGroup(const std::string& kafka_group, const std::vector<CommitJob*>& jobs);

  const RecordStoreOptions::Kafka options_;
  LogLimiter limiter_;
  EventLogger producer_events_;
  EventLogger metadata_events_;
  std::unique_ptr<RdKafka::Producer> producer_;  // Also the handle for admin requests.
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> stopping_{false};
  absl::Mutex produce_mu_;  // Keeps one append's records contiguous in its partition.

  absl::Mutex mu_;
  std::map<std::string, CachedStream, std::less<>> streams_ ABSL_GUARDED_BY(mu_);
  bool metadata_loaded_ ABSL_GUARDED_BY(mu_) = false;
  int64_t metadata_initial_end_ ABSL_GUARDED_BY(mu_) = 0;
  std::multimap<std::string, ReaderState*, std::less<>> readers_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, std::weak_ptr<MemberClient>, std::less<>> members_ ABSL_GUARDED_BY(mu_);

  absl::Mutex commit_mu_;
  std::deque<CommitJob> commits_ ABSL_GUARDED_BY(commit_mu_);
  bool commit_stop_ ABSL_GUARDED_BY(commit_mu_) = false;

  std::unique_ptr<RdKafka::KafkaConsumer> metadata_consumer_;
  std::thread poll_thread_;
  std::thread metadata_thread_;
  std::thread commit_thread_;
};

// --- Readers -------------------------------------------------------------------------------

class KafkaPartitionReader final : public PartitionReader {
 public:
  KafkaPartitionReader(std::shared_ptr<KafkaCore> core, std::string stream, Partition partition,
                       std::unique_ptr<RdKafka::KafkaConsumer> consumer,
                       std::unique_ptr<EventLogger> events)
      : core_(std::move(core)), stream_(std::move(stream)), partition_(partition),
        events_(std::move(events)), consumer_(std::move(consumer)),
        queue_(rd_kafka_queue_get_consumer(consumer_->c_ptr())) {
    core_->AddReader(stream_, &state_);
    thread_ = std::thread([this] { Run(); });
  }

  ~KafkaPartitionReader() override {
    {
      absl::MutexLock lock(&state_.mu);
      state_.stopping = true;
      state_.pending = nullptr;
      state_.pending_batch = nullptr;
      state_.cv.SignalAll();
    }
    thread_.join();
    for (const auto& [size, m] : pushback_) rd_kafka_message_destroy(m);
    core_->RemoveReader(stream_, &state_);
    rd_kafka_queue_destroy(queue_);
    consumer_->close();
  }

  void Next(size_t max_records, size_t max_bytes, ReadDone done) override {
    absl::MutexLock lock(&state_.mu);
    RUNNEL_CHECK(state_.pending == nullptr && state_.pending_batch == nullptr)
        << "at most one Next() may be pending";
    state_.pending = std::move(done);
    Request(max_records, max_bytes);
  }

  void NextBatch(size_t max_records, size_t max_bytes, BatchDone done) override {
    absl::MutexLock lock(&state_.mu);
    RUNNEL_CHECK(state_.pending == nullptr && state_.pending_batch == nullptr)
        << "at most one Next() may be pending";
    state_.pending_batch = std::move(done);
    Request(max_records, max_bytes);
  }

 private:
  void Request(size_t max_records, size_t max_bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu) {
    state_.max_records = std::max<size_t>(1, max_records);
    state_.max_bytes = std::max<size_t>(1, max_bytes);
    state_.cv.Signal();
  }

  void Run() {
    // This batch's messages, taken from librdkafka and not yet delivered, with their estimated
    // sizes' sum. Destroyed once delivered (the records are copied out first).
    std::vector<rd_kafka_message_t*> taken;
    size_t bytes = 0;
    while (true) {
      size_t max_records, max_bytes;
      {
        absl::MutexLock lock(&state_.mu);
        while (!state_.stopping && state_.pending == nullptr && state_.pending_batch == nullptr) {
          state_.cv.Wait(&state_.mu);
        }
        if (state_.stopping) break;
        if (state_.deleted) {
          ReadDone done = std::move(state_.pending);
          BatchDone batch_done = std::move(state_.pending_batch);
          state_.pending = nullptr;
          state_.pending_batch = nullptr;
          state_.mu.Unlock();
          const absl::Status deleted =
              absl::NotFoundError(absl::StrCat("stream '", stream_, "' was deleted"));
          if (done != nullptr) std::move(done)(deleted);
          if (batch_done != nullptr) std::move(batch_done)(deleted);
          state_.mu.Lock();
          continue;
        }
        max_records = state_.max_records;
        max_bytes = state_.max_bytes;
      }
      // Records taken beyond the last batch's budget open this one (they are the oldest).
      while (!pushback_.empty() && taken.size() < max_records &&
             (taken.empty() || bytes + pushback_.front().first <= max_bytes)) {
        bytes += pushback_.front().first;
        taken.push_back(pushback_.front().second);
        pushback_.pop_front();
      }
      // Wait (bounded, so that stop and delete are noticed) for a first message, then take
      // whatever else librdkafka already fetched, up to the limits, in one call each:
      // rd_kafka_consume_batch_queue hands over messages without the C++ API's per-message
      // wrapper and poll. (With a timeout it waits for all it was asked for, hence two calls.)
      // Nothing new is taken while records wait in pushback_, so that it stays bounded.
      const size_t want =
          std::min(max_records - std::min(max_records, taken.size()), kMaxMessagesPerPoll);
      if (want > 0 && pushback_.empty()) {
        messages_.resize(std::max<size_t>(messages_.size(), want));
        ssize_t got = rd_kafka_consume_batch_queue(queue_, taken.empty() ? kPollMs : 0,
                                                   messages_.data(), 1);
        if (got == 1 && want > 1) {
          const ssize_t more = rd_kafka_consume_batch_queue(queue_, 0, messages_.data() + 1, want - 1);
          if (more > 0) got += more;
        }
        for (ssize_t i = 0; i < got; ++i) {
          rd_kafka_message_t* m = messages_[static_cast<size_t>(i)];
          if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const size_t size = EstimatedSize(m);
            if (!pushback_.empty() || (!taken.empty() && bytes + size > max_bytes)) {
              pushback_.push_back({size, m});  // Over the byte budget: it opens a later batch.
            } else {
              bytes += size;
              taken.push_back(m);
            }
            continue;
          }
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
              core_->limiter().Allow(absl::StrCat("reader/", stream_, "/", partition_, "/",
                                                  static_cast<int>(m->err)))) {
            RUNNEL_LOG(WARNING) << "kafka read failed; retrying" << Kv("stream", stream_)
                                << Kv("partition", partition_)
                                << Kv("error", rd_kafka_message_errstr(m));
          }
          rd_kafka_message_destroy(m);
        }
      }
      if (taken.empty()) continue;
      ReadDone done;
      BatchDone batch_done;
      {
        absl::MutexLock lock(&state_.mu);
        if (state_.stopping) break;
        done = std::move(state_.pending);
        batch_done = std::move(state_.pending_batch);
        state_.pending = nullptr;
        state_.pending_batch = nullptr;
      }
      // The records are copied out of the messages, which then go back to librdkafka at once:
      // a batch never pins the consumer's fetch buffers (or the consumer itself).
      if (batch_done != nullptr) {
        RecordBatch::Builder builder(taken.size(), bytes);
        for (rd_kafka_message_t* m : taken) builder.Add(MessageView(m, &extensions_));
        DestroyAll(&taken);
        bytes = 0;
        std::move(batch_done)(std::move(builder).Finish());
      } else {
        std::vector<StoredRecord> out;
        out.reserve(taken.size());
        for (rd_kafka_message_t* m : taken) {
          out.push_back(ToStoredRecord(MessageView(m, &extensions_)));
        }
        DestroyAll(&taken);
        bytes = 0;
        std::move(done)(std::move(out));
      }
    }
    DestroyAll(&taken);
  }

  static void DestroyAll(std::vector<rd_kafka_message_t*>* messages) {
    for (rd_kafka_message_t* m : *messages) rd_kafka_message_destroy(m);
    messages->clear();
  }

  const std::shared_ptr<KafkaCore> core_;
  const std::string stream_;
  const Partition partition_;
  std::unique_ptr<EventLogger> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  // Reader thread only: messages fetched beyond a batch's byte budget, with their estimated
  // sizes; the buffer rd_kafka_consume_batch_queue fills; a record's extensions being viewed.
  std::deque<std::pair<size_t, rd_kafka_message_t*>> pushback_;
  std::vector<rd_kafka_message_t*> messages_;
  std::vector<RecordView::Extension> extensions_;
  rd_kafka_queue_t* queue_ = nullptr;  // The consumer's queue; ours to destroy.
  ReaderState state_;
  std::thread thread_;
};

// --- Group membership ----------------------------------------------------------------------

class KafkaMembership final : public GroupMembership, public RdKafka::RebalanceCb {
 public:
  KafkaMembership(std::shared_ptr<KafkaCore> core, std::string stream,
                  RecordStore::AssignmentCallback on_change)
      : core_(std::move(core)), stream_(std::move(stream)), on_change_(std::move(on_change)) {}

  absl::Status Start(const GroupId& group) {
    const std::string kafka_group = KafkaGroupId(stream_, group.name, group.version);
    events_ = std::make_unique<EventLogger>(absl::StrCat("runnel-group ", kafka_group), &core_->limiter());
    RUNNEL_ASSIGN_OR_RETURN(
        std::unique_ptr<RdKafka::Conf> conf,
        MakeConf(core_->options(),
                 {{"group.id", kafka_group},
                  {"client.id", "runnel-group"},
                  {"enable.auto.commit", "false"},
                  {"enable.auto.offset.store", "false"},
                  {"partition.assignment.strategy", "cooperative-sticky"},
                  {"session.timeout.ms", "10000"},
                  {"heartbeat.interval.ms", "1000"},
                  {"enable.partition.eof", "false"}},
                 events_.get()));
    std::string error;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), error) != RdKafka::Conf::CONF_OK) {
      return absl::InternalError(absl::StrCat("kafka rebalance callback: ", error));
    }
    client_ = std::make_shared<MemberClient>();
    client_->kafka_group = kafka_group;
    client_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!client_->consumer) {
      return absl::InvalidArgumentError(absl::StrCat("kafka consumer for group '", kafka_group, "': ", error));
    }
    if (RdKafka::ErrorCode err = client_->consumer->subscribe({stream_}); err != RdKafka::ERR_NO_ERROR) {
      return KafkaStatus(err, absl::StrCat("join group '", kafka_group, "'"));
    }
    core_->AddMember(client_);
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  ~KafkaMembership() override {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    if (client_) core_->RemoveMember(client_.get());
  }

  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(Partition partition, StartAt start) override {
    return core_->OpenReader(stream_, partition, start);
  }

  // Runs on the membership thread, inside consume() or close().
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    AssignmentChange change;
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::unique_ptr<RdKafka::Error> e(cooperative ? consumer->incremental_assign(partitions) : nullptr);
      if (!cooperative) consumer->assign(partitions);
      if (e) LogOnce("assign", e->str());
      // The membership only decides who reads what; readers fetch on their own consumers.
      consumer->pause(partitions);
      for (auto* tp : partitions) change.assigned.push_back(tp->partition());
    } else {
      for (auto* tp : partitions) change.revoked.push_back(tp->partition());
      if (err != RdKafka::ERR__REVOKE_PARTITIONS) LogOnce("rebalance", RdKafka::err2str(err));
      std::unique_ptr<RdKafka::Error> e(cooperative ? consumer->incremental_unassign(partitions) : nullptr);
      if (!cooperative) consumer->unassign();
      if (e) LogOnce("unassign", e->str());
    }
    std::sort(change.assigned.begin(), change.assigned.end());
    std::sort(change.revoked.begin(), change.revoked.end());
    if (!stopping_ && (!change.assigned.empty() || !change.revoked.empty())) on_change_(std::move(change));
  }

 private:
  void LogOnce(absl::string_view what, const std::string& detail) {
    if (core_->limiter().Allow(absl::StrCat("group/", client_->kafka_group, "/", what))) {
      RUNNEL_LOG(WARNING) << "kafka group rebalance problem" << Kv("group", client_->kafka_group)
                          << Kv("during", what) << Kv("detail", detail);
    }
  }

  void Run() {
    while (!stopping_) {
      std::unique_ptr<RdKafka::Message> m(client_->consumer->consume(kPollMs));
    }
    // Leaving the group here, on the thread that owns the consumer, lets the others rebalance
    // at once instead of after the session timeout.
    client_->consumer->close();
  }

  const std::shared_ptr<KafkaCore> core_;
  const std::string stream_;
  RecordStore::AssignmentCallback on_change_;
  std::unique_ptr<EventLogger> events_;
  std::shared_ptr<MemberClient> client_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// --- KafkaCore -----------------------------------------------------------------------------

absl::Status KafkaCore::Start() {
  if (options_.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("the Kafka store needs bootstrap servers (host:port[,...])");
  }
  if (options_.replication_factor < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka replication factor must be at least 1, got ", options_.replication_factor));
  }
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> conf,
                          MakeConf(options_,
                                   {{"client.id", "runnel-gateway"},
                                    {"enable.idempotence", "true"},
                                    {"acks", "all"},
                                    {"linger.ms", "5"},
                                    {"batch.num.messages", "10000"},
                                    {"queue.buffering.max.messages", "1000000"},
                                    {"queue.buffering.max.kbytes", "262144"},
                                    // Appends during an outage fail (UNAVAILABLE) after this.
                                    {"message.timeout.ms", "30000"}},
                                   &producer_events_));
  std::string error;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(absl::StrCat("kafka delivery callback: ", error));
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), error));
  if (!producer_) return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", error));
  poll_thread_ = std::thread([this] { PollLoop(); });

  absl::Status created = CreateTopic(producer_->c_ptr(), kStreamsTopic, 1, options_.replication_factor,
                                     {{"cleanup.policy", "compact"}});
  if (!created.ok() && created.code() != absl::StatusCode::kAlreadyExists) return created;
  // A fresh (or busy) broker names the metadata topic's leader before that leader serves it:
  // wait, within the start-up timeout, instead of failing the open (see WaitUntilReadable).
  RUNNEL_RETURN_IF_ERROR(WaitUntilReadable(kStreamsTopic, 1, absl::Now() + kStartupTimeout));
  RUNNEL_ASSIGN_OR_RETURN(PartitionBounds bounds, Watermarks(kStreamsTopic, 0));
  {
    absl::MutexLock lock(&mu_);
    metadata_initial_end_ = bounds.end;
    metadata_loaded_ = bounds.end <= bounds.start;
  }

  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> mconf,
                          MakeConf(options_,
                                   {{"group.id", "runnel-metadata"},
                                    {"client.id", "runnel-metadata"},
                                    {"enable.auto.commit", "false"},
                                    {"enable.auto.offset.store", "false"},
                                    {"enable.partition.eof", "true"},
                                    {"fetch.wait.max.ms", "200"}},
                                   &metadata_events_));
  metadata_consumer_.reset(RdKafka::KafkaConsumer::create(mconf.get(), error));
  if (!metadata_consumer_) return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", error));
  std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(kStreamsTopic, 0, RdKafka::Topic::OFFSET_BEGINNING));
  std::vector<RdKafka::TopicPartition*> assignment{tp.get()};
  if (RdKafka::ErrorCode err = metadata_consumer_->assign(assignment); err != RdKafka::ERR_NO_ERROR) {
    return KafkaStatus(err, "read stream metadata");
  }
  metadata_thread_ = std::thread([this] { MetadataLoop(metadata_consumer_.get()); });
  commit_thread_ = std::thread([this] { CommitLoop(); });

  absl::MutexLock lock(&mu_);
  auto loaded = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return metadata_loaded_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&loaded), kStartupTimeout)) {
    return absl::UnavailableError(absl::StrCat("read stream metadata from '", options_.bootstrap_servers,
                                               "': not complete within ",
                                               absl::FormatDuration(kStartupTimeout)));
  }
  return absl::OkStatus();
}

void KafkaCore::Shutdown() {
  if (stopping_.exchange(true)) return;
  {
    absl::MutexLock lock(&commit_mu_);
    commit_stop_ = true;
  }
  if (commit_thread_.joinable()) commit_thread_.join();
  if (metadata_thread_.joinable()) metadata_thread_.join();
  if (metadata_consumer_) metadata_consumer_->close();
  if (producer_) {
    // Deliver what is queued (bounded); whatever is left fails its appends with UNAVAILABLE.
    producer_->flush(10'000);
    producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    for (int i = 0; i < 100 && producer_->outq_len() > 0; ++i) producer_->poll(50);
  }
  if (poll_thread_.joinable()) poll_thread_.join();
  absl::MutexLock lock(&mu_);
  for (auto& [name, entry] : streams_) {
    if (entry.topic != nullptr) rd_kafka_topic_destroy(entry.topic);
    entry.topic = nullptr;
  }
}

void KafkaCore::PollLoop() {
  // Delivery reports (Append's callbacks) and producer events run here.
  while (!stopping_.load() || in_flight_.load() > 0) {
    producer_->poll(kPollMs);
    if (stopping_.load() && producer_->outq_len() == 0) break;
  }
}

void KafkaCore::dr_cb(RdKafka::Message& message) {
  auto* append = static_cast<PendingAppend*>(message.msg_opaque());
  if (append == nullptr) return;
  // Delivery reports all arrive on the poll thread, so `first` and `delivery_status` have one
  // writer.
  if (message.err() != RdKafka::ERR_NO_ERROR) {
    if (append->delivery_status.ok()) {
      const std::string what = !append->what.empty()
                                   ? append->what
                                   : absl::StrCat("append to stream '", message.topic_name(),
                                                  "' partition ", message.partition());
      append->delivery_status = KafkaStatus(message.err(), what, message.errstr());
    }
  } else {
    append->first = std::min(append->first, message.offset());
  }
  in_flight_.fetch_sub(1);
  if (append->remaining.fetch_sub(1) == 1) CompleteAppend(append);
}

void KafkaCore::CompleteAppend(PendingAppend* append) {
  absl::StatusOr<Offset> result = append->first;
  if (!append->produce_status.ok()) {
    result = append->produce_status;
  } else if (!append->delivery_status.ok()) {
    result = append->delivery_status;
  }
  std::move(append->done)(std::move(result));
  delete append;
}

void KafkaCore::MetadataLoop(RdKafka::KafkaConsumer* consumer) {
  while (!stopping_.load()) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      const std::string name = m->key() ? *m->key() : std::string();
      if (!name.empty()) {
        std::optional<StreamSpec> spec;
        if (m->payload() != nullptr) {
          spec = DecodeSpec(name, absl::string_view(static_cast<const char*>(m->payload()), m->len()));
          if (!spec.has_value() && limiter_.Allow(absl::StrCat("metadata/bad/", name))) {
            RUNNEL_LOG(WARNING) << "ignoring unreadable stream metadata" << Kv("stream", name)
                                << Kv("offset", m->offset());
          }
        }
        if (spec.has_value() || m->payload() == nullptr) ApplyMetadata(name, std::move(spec), m->offset());
      }
      absl::MutexLock lock(&mu_);
      if (m->offset() + 1 >= metadata_initial_end_) metadata_loaded_ = true;
    } else if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      absl::MutexLock lock(&mu_);
      metadata_loaded_ = true;
    } else if (m->err() != RdKafka::ERR__TIMED_OUT &&
               limiter_.Allow(absl::StrCat("metadata/", static_cast<int>(m->err())))) {
      RUNNEL_LOG(WARNING) << "reading stream metadata failed; retrying" << Kv("error", m->errstr());
    }
  }
}

void KafkaCore::ApplyMetadata(const std::string& name, std::optional<StreamSpec> spec, int64_t offset) {
  std::vector<ReaderState*> to_fail;
  absl::MutexLock lock(&mu_);
  CachedStream& entry = streams_[name];
  if (entry.metadata_offset > offset) return;  // We already applied something newer.
  const bool deleted = entry.spec.has_value() && !spec.has_value();
  entry.spec = std::move(spec);
  entry.metadata_offset = offset;
  if (deleted) {
    // Readers deregister under mu_, so those found here stay alive while we mark them.
    for (auto [it, end] = readers_.equal_range(name); it != end; ++it) it->second->MarkDeleted();
  }
}

absl::StatusOr<Offset> KafkaCore::ProduceSync(const std::string& topic, Partition partition,
                                              const std::string& key, const std::string* value,
                                              absl::string_view what) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Offset>>>();
  std::future<absl::StatusOr<Offset>> future = promise->get_future();
  auto* append = new PendingAppend;
  append->what = std::string(what);
  append->remaining = 1;
  append->done = [promise](absl::StatusOr<Offset> r) { promise->set_value(std::move(r)); };
  in_flight_.fetch_add(1);
  RdKafka::ErrorCode err = producer_->produce(
      topic, partition, RdKafka::Producer::RK_MSG_COPY,
      value ? const_cast<char*>(value->data()) : nullptr, value ? value->size() : 0, key.data(),
      key.size(), 0, nullptr, append);
  if (err != RdKafka::ERR_NO_ERROR) {
    in_flight_.fetch_sub(1);
    delete append;
    return KafkaStatus(err, what);
  }
  if (future.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    // message.timeout.ms bounds delivery; this only guards against a wedged client.
    return absl::UnavailableError(absl::StrCat(what, ": no delivery report in time"));
  }
  return future.get();
}

absl::StatusOr<PartitionBounds> KafkaCore::Watermarks(const std::string& topic, Partition partition) {
  int64_t low = 0, high = 0;
  RdKafka::ErrorCode err = producer_->query_watermark_offsets(topic, partition, &low, &high, kQueryTimeoutMs);
  if (err != RdKafka::ERR_NO_ERROR) {
    return KafkaStatus(err, absl::StrCat("offsets of topic '", topic, "' partition ", partition));
  }
  // Kafka answers -1 for a partition it knows nothing of; never hand that on.
  low = std::max<int64_t>(low, 0);
  high = std::max<int64_t>(high, low);
  return PartitionBounds{low, high};
}

absl::StatusOr<int32_t> KafkaCore::TopicPartitionCount(const std::string& topic) {
  std::string error;
  std::unique_ptr<RdKafka::Topic> handle(RdKafka::Topic::create(producer_.get(), topic, nullptr, error));
  if (!handle) return absl::InternalError(absl::StrCat("topic handle '", topic, "': ", error));
  RdKafka::Metadata* raw = nullptr;
  RdKafka::ErrorCode err = producer_->metadata(false, handle.get(), &raw, kQueryTimeoutMs);
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) return KafkaStatus(err, absl::StrCat("metadata of topic '", topic, "'"));
  for (const RdKafka::TopicMetadata* t : *metadata->topics()) {
    if (t->topic() != topic) continue;
    if (t->err() != RdKafka::ERR_NO_ERROR) return KafkaStatus(t->err(), absl::StrCat("metadata of topic '", topic, "'"));
    int32_t with_leader = 0;
    for (const RdKafka::PartitionMetadata* p : *t->partitions()) with_leader += p->leader() >= 0;
    if (with_leader != static_cast<int32_t>(t->partitions()->size())) {
      return absl::UnavailableError(absl::StrCat("topic '", topic, "' has partitions without a leader"));
    }
    return static_cast<int32_t>(t->partitions()->size());
  }
  return absl::NotFoundError(absl::StrCat("topic '", topic, "' does not exist"));
}

absl::Status KafkaCore::WaitUntilReadable(const std::string& topic, int32_t partitions,
                                          absl::Time deadline) {
  // A topic is usable once each partition's leader answers ListOffsets, not when metadata first
  // names a leader: in KRaft the metadata names it moments before that broker has loaded the
  // partition, and until then it answers NOT_LEADER_OR_FOLLOWER. On a fresh or busy broker that
  // gap lasts seconds, which made the first Watermarks after CreateTopics fail (the flaky
  // BrokerRestart test: the store failed to open with "Not leader for partition").
  absl::Status last = absl::OkStatus();
  while (true) {
    absl::StatusOr<int32_t> n = TopicPartitionCount(topic);
    last = n.status();
    if (n.ok() && *n != partitions) {
      last = absl::UnavailableError(absl::StrCat("topic '", topic, "' shows ", *n, " of ", partitions, " partitions"));
    }
    for (Partition p = 0; last.ok() && p < partitions; ++p) last = Watermarks(topic, p).status();
    // NOT_FOUND too: a topic just created may not be in the metadata yet.
    const bool retriable = last.code() == absl::StatusCode::kUnavailable || last.code() == absl::StatusCode::kNotFound;
    if (last.ok() || !retriable || absl::Now() >= deadline) return last;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

absl::StatusOr<StreamSpec> KafkaCore::CreateStream(const StreamSpec& requested) {
  RUNNEL_RETURN_IF_ERROR(ValidateStreamSpec(requested));
  if (GetStream(requested.name).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("stream '", requested.name, "' already exists"));
  }
  absl::Status created = CreateTopic(producer_->c_ptr(), requested.name, requested.partitions,
                                     options_.replication_factor,
                                     {{"message.timestamp.type", "LogAppendTime"}});
  if (created.code() == absl::StatusCode::kAlreadyExists) {
    // A topic without stream metadata: ours from an attempt that failed half-way, or a topic
    // made by other tools. Adopt it if it has the partitions asked for.
    absl::StatusOr<int32_t> partitions = TopicPartitionCount(requested.name);
    if (!partitions.ok()) return partitions.status();
    if (*partitions != requested.partitions) {
      return absl::AlreadyExistsError(absl::StrCat("a Kafka topic '", requested.name, "' with ", *partitions,
                                                   " partitions already exists"));
    }
  } else if (!created.ok()) {
    return created;
  }
  StreamSpec spec = requested;
  spec.created_unix_ms = absl::ToUnixMillis(absl::Now());
  const std::string value = EncodeSpec(spec);
  RUNNEL_ASSIGN_OR_RETURN(Offset offset, ProduceSync(kStreamsTopic, 0, spec.name, &value,
                                                      absl::StrCat("record metadata of stream '", spec.name, "'")));
  ApplyMetadata(spec.name, spec, offset);
  // Best effort (bounded): the stream exists either way, and a read or append racing the
  // partitions' leaders fails UNAVAILABLE, which callers retry.
  if (absl::Status ready = WaitUntilReadable(spec.name, spec.partitions, absl::Now() + absl::Seconds(10));
      !ready.ok() && limiter_.Allow(absl::StrCat("create/", spec.name))) {
    RUNNEL_LOG(WARNING) << "new stream not readable yet" << Kv("stream", spec.name)
                        << Kv("detail", ready.message());
  }
  return spec;
}

absl::Status KafkaCore::DeleteStream(absl::string_view name) {
  RUNNEL_RETURN_IF_ERROR(GetStream(name).status());
  const std::string topic(name);
  absl::Status deleted = DeleteTopic(producer_->c_ptr(), topic);
  if (!deleted.ok() && deleted.code() != absl::StatusCode::kNotFound) return deleted;
  RUNNEL_ASSIGN_OR_RETURN(Offset offset, ProduceSync(kStreamsTopic, 0, topic, nullptr,
                                                      absl::StrCat("record deletion of stream '", name, "'")));
  ApplyMetadata(topic, std::nullopt, offset);
  return absl::OkStatus();
}

absl::StatusOr<StreamSpec> KafkaCore::GetStream(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(name);
  if (it == streams_.end() || !it->second.spec.has_value()) {
    return absl::NotFoundError(absl::StrCat("stream '", name, "' does not exist"));
  }
  return *it->second.spec;
}

std::vector<StreamSpec> KafkaCore::ListStreams() {
  absl::MutexLock lock(&mu_);
  std::vector<StreamSpec> out;
  for (const auto& [name, entry] : streams_) {
    if (entry.spec.has_value()) out.push_back(*entry.spec);
  }
  return out;
}

absl::Status KafkaCore::CheckPartition(absl::string_view stream, Partition partition) {
  RUNNEL_ASSIGN_OR_RETURN(StreamSpec spec, GetStream(stream));
  if (partition < 0 || partition >= spec.partitions) {
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' has no partition ", partition));
  }
  return absl::OkStatus();
}

absl::StatusOr<rd_kafka_topic_t*> KafkaCore::ProduceTopic(absl::string_view stream, Partition partition) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end() || !it->second.spec.has_value()) {
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' does not exist"));
  }
  CachedStream& entry = it->second;
  if (partition < 0 || partition >= entry.spec->partitions) {
    return absl::NotFoundError(absl::StrCat("stream '", stream, "' has no partition ", partition));
  }
  if (entry.topic == nullptr && !stopping_.load()) {
    // Kept for the store's lifetime (destroyed in Shutdown): producing by name looks the topic
    // up, under librdkafka's lock, for every message.
    entry.topic = rd_kafka_topic_new(producer_->c_ptr(), it->first.c_str(), nullptr);
  }
  if (entry.topic == nullptr) {
    return absl::UnavailableError(absl::StrCat("append to stream '", stream, "': no producer topic handle",
                                               stopping_.load() ? " (store is closing)" : ""));
  }
  return entry.topic;
}

void KafkaCore::Append(absl::string_view stream, Partition partition, std::vector<v1::Record> records,
                       RecordStore::AppendDone done) {
  absl::StatusOr<rd_kafka_topic_t*> topic = ProduceTopic(stream, partition);
  if (!topic.ok()) {
    std::move(done)(topic.status());
    return;
  }
  if (records.empty()) {
    std::move(done)(absl::InvalidArgumentError(absl::StrCat("append to stream '", stream, "': no records")));
    return;
  }
  if (stopping_.load()) {
    std::move(done)(absl::UnavailableError(absl::StrCat("append to stream '", stream, "': store is closing")));
    return;
  }
  const int64_t n = static_cast<int64_t>(records.size());
  if (in_flight_.fetch_add(n) + n > kMaxInFlightRecords) {
    in_flight_.fetch_sub(n);
    std::move(done)(absl::ResourceExhaustedError(
        absl::StrCat("append to stream '", stream, "': too many records awaiting the brokers")));
    return;
  }
  auto* append = new PendingAppend;
  append->done = std::move(done);
  append->remaining = n;
  int64_t not_sent = 0;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
  auto produce_all = [&] {
    for (int64_t i = 0; i < n; ++i) {
      const v1::Record& r = records[static_cast<size_t>(i)];
      rd_kafka_headers_t* headers = CloudEventHeaders(r);
      error = rd_kafka_producev(
          producer_->c_ptr(), RD_KAFKA_V_RKT(*topic), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(r.data().data()), r.data().size()),
          RD_KAFKA_V_KEY(r.key().empty() ? nullptr : r.key().data(), r.key().size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(append), RD_KAFKA_V_END);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (headers != nullptr) rd_kafka_headers_destroy(headers);  // Ours again on failure.
        not_sent = n - i;
        return;
      }
    }
  };
  if (n == 1) {
    produce_all();  // One message is contiguous by itself: no need to order against others.
  } else {
    absl::MutexLock lock(&produce_mu_);
    produce_all();
  }
  if (not_sent > 0) {
    // Records before the failing one are on their way; the append as a whole fails.
    const absl::Status failed =
        KafkaStatus(error, absl::StrCat("append to stream '", stream, "' partition ", partition));
    append->produce_status = failed;
    in_flight_.fetch_sub(not_sent);
    if (append->remaining.fetch_sub(not_sent) == not_sent) CompleteAppend(append);
  }
}

absl::StatusOr<PartitionBounds> KafkaCore::GetBounds(absl::string_view stream, Partition partition) {
  RUNNEL_RETURN_IF_ERROR(CheckPartition(stream, partition));
  return Watermarks(std::string(stream), partition);
}

absl::StatusOr<std::unique_ptr<PartitionReader>> KafkaCore::OpenReader(absl::string_view stream,
                                                                      Partition partition, StartAt start) {
  RUNNEL_RETURN_IF_ERROR(CheckPartition(stream, partition));
  const std::string topic(stream);
  int64_t offset = RdKafka::Topic::OFFSET_BEGINNING;
  if (start.kind == StartAt::Kind::kLatest || (start.kind == StartAt::Kind::kOffset && start.offset > 0)) {
    // Resolved now, so that "latest" means the end at open time, not at the first fetch.
    RUNNEL_ASSIGN_OR_RETURN(PartitionBounds bounds, Watermarks(topic, partition));
    if (start.kind == StartAt::Kind::kLatest) {
      offset = bounds.end;
    } else if (start.offset > bounds.end) {
      return absl::OutOfRangeError(absl::StrCat("offset ", start.offset, " is beyond the end of stream '",
                                                stream, "' partition ", partition, " (next offset ",
                                                bounds.end, ")"));
    } else {
      offset = std::max(start.offset, bounds.start);
    }
  } else if (absl::StatusOr<PartitionBounds> bounds = Watermarks(topic, partition); bounds.ok()) {
    // The start as an offset, asked on the producer's connection, which knows the leader: a
    // fresh consumer assigned the logical OFFSET_BEGINNING queries it before its metadata
    // names the leader and retries 500 ms later, so every read from the start began half a
    // second late (docs/perf/kafka.md). If the query fails, the consumer resolves it instead.
    offset = bounds->start;
  }
  auto events = std::make_unique<EventLogger>(absl::StrCat("runnel-reader ", topic, "/", partition), &limiter_);
  RUNNEL_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> conf, MakeConf(options_, ReaderProperties(), events.get()));
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) return absl::InvalidArgumentError(absl::StrCat("kafka consumer: ", error));
  std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(topic, partition, offset));
  std::vector<RdKafka::TopicPartition*> assignment{tp.get()};
  if (RdKafka::ErrorCode err = consumer->assign(assignment); err != RdKafka::ERR_NO_ERROR) {
    return KafkaStatus(err, absl::StrCat("read stream '", stream, "' partition ", partition));
  }
  return std::unique_ptr<PartitionReader>(new KafkaPartitionReader(
      shared_from_this(), topic, partition, std::move(consumer), std::move(events)));
}

absl::StatusOr<std::unique_ptr<GroupMembership>> KafkaCore::JoinGroup(absl::string_view stream,
                                                                      const GroupId& group,
                                                                      RecordStore::AssignmentCallback on_change) {
  RUNNEL_RETURN_IF_ERROR(GetStream(stream).status());
  auto membership = std::make_unique<KafkaMembership>(shared_from_this(), std::string(stream), std::move(on_change));
  RUNNEL_RETURN_IF_ERROR(membership->Start(group));
  return std::unique_ptr<GroupMembership>(std::move(membership));
}

void KafkaCore::AddReader(const std::string& stream, ReaderState* reader) {
  absl::MutexLock lock(&mu_);
  readers_.emplace(stream, reader);
  auto it = streams_.find(stream);
  if (it == streams_.end() || !it->second.spec.has_value()) reader->MarkDeleted();
}

void KafkaCore::RemoveReader(const std::string& stream, ReaderState* reader) {
  absl::MutexLock lock(&mu_);
  for (auto [it, end] = readers_.equal_range(stream); it != end; ++it) {
    if (it->second == reader) {
      readers_.erase(it);
      return;
    }
  }
}

void KafkaCore::AddMember(std::shared_ptr<MemberClient> member) {
  absl::MutexLock lock(&mu_);
  members_.emplace(member->kafka_group, member);
}

void KafkaCore::RemoveMember(const MemberClient* member) {
  absl::MutexLock lock(&mu_);
  for (auto [it, end] = members_.equal_range(member->kafka_group); it != end; ++it) {
    if (it->second.lock().get() == member) {
      members_.erase(it);
      return;
    }
  }
}

void KafkaCore::CommitPosition(absl::string_view stream, const GroupId& group, Partition partition,
                               Offset offset, RecordStore::CommitDone done) {
  if (absl::Status s = CheckPartition(stream, partition); !s.ok()) {
    std::move(done)(s);
    return;
  }
  if (offset < -1) {
    std::move(done)(absl::InvalidArgumentError(absl::StrCat("position ", offset, " is negative")));
    return;
  }
  {
    absl::MutexLock lock(&commit_mu_);
    if (!commit_stop_) {
      commits_.push_back({KafkaGroupId(stream, group.name, group.version), std::string(stream), partition,
                          offset, std::move(done)});
      return;
    }
  }
  std::move(done)(absl::UnavailableError("commit position: store is closing"));
}

void KafkaCore::CommitLoop() {
  // Takes every queued commit at once and sends one request per group with the last position
  // per partition (in call order, so a lower offset still rewinds).
  while (true) {
    std::deque<CommitJob> jobs;
    {
      absl::MutexLock lock(&commit_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(commit_mu_) { return commit_stop_ || !commits_.empty(); };
      commit_mu_.Await(absl::Condition(&ready));
      if (commits_.empty() && commit_stop_) return;
      jobs.swap(commits_);
    }
    std::map<std::string, std::vector<CommitJob*>> by_group;
    for (CommitJob& job : jobs) by_group[job.kafka_group].push_back(&job);
    for (auto& [group, group_jobs] : by_group) {
      const absl::Status status = CommitGroup(group, group_jobs);
      for (CommitJob* job : group_jobs) std::move(job->done)(status);
    }
  }
}

absl::Status KafkaCore::CommitGroup(const std::string& kafka_group, const std::vector<CommitJob*>& jobs) {
  const std::string op = absl::StrCat("commit positions of group '", kafka_group, "'");
  std::map<std::pair<std::string, Partition>, Offset> last;
  for (const CommitJob* job : jobs) last[{job->topic, job->partition}] = job->offset + 1;

  std::shared_ptr<MemberClient> member;
  {
    absl::MutexLock lock(&mu_);
    for (auto [it, end] = members_.equal_range(kafka_group); it != end && !member; ++it) member = it->second.lock();
  }
  if (member) {
    // A member of the group commits with its generation, which the broker requires while the
    // group is active.
    std::vector<RdKafka::TopicPartition*> offsets;
    for (const auto& [tp, next] : last) offsets.push_back(RdKafka::TopicPartition::create(tp.first, tp.second, next));
    RdKafka::ErrorCode err = member->consumer->commitSync(offsets);
    absl::Status status = KafkaStatus(err, op);
    for (RdKafka::TopicPartition* tp : offsets) {
      if (status.ok() && tp->err() != RdKafka::ERR_NO_ERROR) status = KafkaStatus(tp->err(), op);
    }
    RdKafka::TopicPartition::destroy(offsets);
    return status;
  }
  rd_kafka_t* rk = producer_->c_ptr();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(last.size())));
  for (const auto& [tp, next] : last) {
    rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = next;
  }
  rd_kafka_AlterConsumerGroupOffsets_t* alter = rd_kafka_AlterConsumerGroupOffsets_new(kafka_group.c_str(), list.get());
  auto event = AdminCall(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, op, false,
                         [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                           rd_kafka_AlterConsumerGroupOffsets(rk, &alter, 1, o, q);
                         });
  rd_kafka_AlterConsumerGroupOffsets_destroy(alter);
  if (!event.ok()) return event.status();
  size_t n = 0;
  const rd_kafka_group_result_t** groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(event->get()), &n);
  return GroupResultStatus(groups, n, op);
}

absl::StatusOr<GroupPositions> KafkaCore::GetPositions(absl::string_view stream, absl::string_view group_name) {
  RUNNEL_ASSIGN_OR_RETURN(StreamSpec spec, GetStream(stream));
  rd_kafka_t* rk = producer_->c_ptr();
  RUNNEL_ASSIGN_OR_RETURN(EventPtr listed,
                          AdminCall(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, "list consumer groups", false,
                                    [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                                      rd_kafka_ListConsumerGroups(rk, o, q);
                                    }));
  const rd_kafka_ListConsumerGroups_result_t* result = rd_kafka_event_ListConsumerGroups_result(listed.get());
  size_t n_errors = 0;
  const rd_kafka_error_t** errors = rd_kafka_ListConsumerGroups_result_errors(result, &n_errors);
  if (n_errors > 0) {
    return KafkaStatus(rd_kafka_error_code(errors[0]), "list consumer groups", rd_kafka_error_string(errors[0]));
  }
  size_t n = 0;
  const rd_kafka_ConsumerGroupListing_t** groups = rd_kafka_ListConsumerGroups_result_valid(result, &n);
  std::vector<std::pair<std::string, uint32_t>> matching;
  for (size_t i = 0; i < n; ++i) {
    const char* id = rd_kafka_ConsumerGroupListing_group_id(groups[i]);
    if (auto version = GroupVersion(id, stream, group_name)) matching.emplace_back(id, *version);
  }
  GroupPositions positions;
  for (const auto& [kafka_group, version] : matching) {
    const std::string op = absl::StrCat("read positions of group '", kafka_group, "'");
    PartitionListPtr list(rd_kafka_topic_partition_list_new(spec.partitions));
    for (Partition p = 0; p < spec.partitions; ++p) rd_kafka_topic_partition_list_add(list.get(), spec.name.c_str(), p);
    rd_kafka_ListConsumerGroupOffsets_t* request = rd_kafka_ListConsumerGroupOffsets_new(kafka_group.c_str(), list.get());
    auto event = AdminCall(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, op, false,
                           [&](rd_kafka_AdminOptions_t* o, rd_kafka_queue_t* q) {
                             rd_kafka_ListConsumerGroupOffsets(rk, &request, 1, o, q);
                           });
    rd_kafka_ListConsumerGroupOffsets_destroy(request);
    if (!event.ok()) return event.status();
    size_t ng = 0;
    const rd_kafka_group_result_t** results = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(event->get()), &ng);
    RUNNEL_RETURN_IF_ERROR(GroupResultStatus(results, ng, op));
    for (size_t g = 0; g < ng; ++g) {
      const rd_kafka_topic_partition_list_t* parts = rd_kafka_group_result_partitions(results[g]);
      for (int j = 0; parts != nullptr && j < parts->cnt; ++j) {
        const rd_kafka_topic_partition_t& tp = parts->elems[j];
        if (tp.offset < 0 || spec.name != tp.topic) continue;  // Nothing committed.
        positions[version][tp.partition] = tp.offset - 1;
      }
    }
  }
  return positions;
}

// --- The store -----------------------------------------------------------------------------

class KafkaRecordStore final : public RecordStore {
 public:
  explicit KafkaRecordStore(std::shared_ptr<KafkaCore> core) : core_(std::move(core)) {}
  ~KafkaRecordStore() override { core_->Shutdown(); }

  absl::StatusOr<StreamSpec> CreateStream(const StreamSpec& spec) override { return core_->CreateStream(spec); }
  absl::Status DeleteStream(absl::string_view name) override { return core_->DeleteStream(name); }
  absl::StatusOr<StreamSpec> GetStream(absl::string_view name) override { return core_->GetStream(name); }
  std::vector<StreamSpec> ListStreams() override { return core_->ListStreams(); }
  void Append(absl::string_view stream, Partition partition, std::vector<v1::Record> records,
              AppendDone done) override {
    core_->Append(stream, partition, std::move(records), std::move(done));
  }
  absl::StatusOr<PartitionBounds> GetBounds(absl::string_view stream, Partition partition) override {
    return core_->GetBounds(stream, partition);
  }
  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(absl::string_view stream, Partition partition,
                                                              StartAt start) override {
    return core_->OpenReader(stream, partition, start);
  }
  absl::StatusOr<std::unique_ptr<GroupMembership>> JoinGroup(absl::string_view stream, const GroupId& group,
                                                              AssignmentCallback on_change) override {
    return core_->JoinGroup(stream, group, std::move(on_change));
  }
  void CommitPosition(absl::string_view stream, const GroupId& group, Partition partition, Offset offset,
                      CommitDone done) override {
    core_->CommitPosition(stream, group, partition, offset, std::move(done));
  }
  absl::StatusOr<GroupPositions> GetPositions(absl::string_view stream, absl::string_view group_name) override {
    return core_->GetPositions(stream, group_name);
  }

 private:
  std::shared_ptr<KafkaCore> core_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<RecordStore>> OpenKafkaRecordStore(const RecordStoreOptions::Kafka& options) {
  auto core = std::make_shared<KafkaCore>(options);
  if (absl::Status s = core->Start(); !s.ok()) {
    core->Shutdown();
    return s;
  }
  return std::unique_ptr<RecordStore>(new KafkaRecordStore(std::move(core)));
}

}  // namespace runnel::gateway
