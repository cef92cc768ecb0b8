// Keys, event time and per-record failures (issue 12) with real processes: runnel-gateway on
// the file log, SDK functions and runnel-processor binaries over loopback. The point is the
// first test: keyed event-time windows give the same answer per (key, window) whether or not
// the processor and the gateway are killed (-9) while windows are in flight.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/sidecar/pipeline_fixture.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;

using WindowKey = std::pair<std::string, std::string>;  // (record key, window start).

class KeyedPipeline : public PipelineTest {
 protected:
  // Per partition, the offset the next record of `stream` will get (GetStream); empty on error.
  std::map<uint32_t, int64_t> EndOffsets(const std::string& stream) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetStreamRequest request;
    request.set_name(stream);
    v1::Stream reply;
    std::map<uint32_t, int64_t> out;
    grpc::Status s = gateway_->runnel().GetStream(&context, request, &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const v1::PartitionInfo& p : reply.partition_info()) {
      out[static_cast<uint32_t>(p.partition())] = p.end_offset();
    }
    return out;
  }

  // Everything `partition` of `stream` holds now (up to the end offset GetStream reports), in
  // offset order; for streams whose writers are done (their inputs acknowledged).
  std::vector<Received> ReadToEnd(const std::string& stream, uint32_t partition,
                                  absl::Duration timeout = absl::Seconds(30)) {
    const int64_t end = EndOffsets(stream)[partition];
    std::vector<Received> out;
    const absl::Time deadline = absl::Now() + timeout;
    int64_t next = 0;
    while (next < end && absl::Now() < deadline) {
      grpc::ClientContext context;
      // Read waits at the end of the partition until cancelled: short reads, repeated.
      context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(1))));
      v1::ReadRequest request;
      request.set_topic(stream);
      request.set_partition(partition);
      request.set_offset(static_cast<uint64_t>(next));
      request.set_format(liiklus::ReceiveRequest::LIIKLUS_EVENT);
      auto reader = gateway_->runnel().Read(&context, request);
      v1::ReceiveBatchesReply batch;
      while (next < end && reader->Read(&batch)) {
        for (const auto& r : batch.records()) {
          const auto& e = r.liiklus_event_record();
          if (static_cast<int64_t>(e.offset()) >= end) break;
          out.push_back({partition, e.offset(), e.key(), e.event()});
          next = static_cast<int64_t>(e.offset()) + 1;
        }
      }
      context.TryCancel();
      reader->Finish();
    }
    EXPECT_GE(next, end) << "read " << stream << "/" << partition << " up to " << next;
    return out;
  }

  // Polls partition 0 of `stream` until it holds a window output whose start (RFC 3339, same
  // format) is `start` or later; false after `timeout`.
  bool WaitForWindowFrom(const std::string& stream, const std::string& start,
                         absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (const Received& r : ReadToEnd(stream, 0)) {
        auto it = r.event.extensions().find("runnelwindowstart");
        if (it != r.event.extensions().end() && it->second >= start) return true;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  // Polls until the group's position on every partition reaches the partition's last offset.
  bool WaitForAllAcked(const std::string& stream, const std::string& group,
                       const std::map<uint32_t, int64_t>& last, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (const auto& [partition, offset] : last) {
      while (GroupOffset(stream, group, partition) < offset) {
        if (absl::Now() >= deadline) {
          return false;
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
    return true;
  }

  // Kills the fixture's gateway (-9) and starts it again on the same port and data.
  void RestartGateway() {
    const int port = gateway_->grpc_port();
    ASSERT_EQ(::kill(gateway_->process().pid(), SIGKILL), 0);
    ASSERT_TRUE(gateway_->process().Wait(absl::Seconds(10)).ok());
    auto gw = GatewayProcess::Start(
        {"--store", "file", "--data-dir", dir_.path() + "/data", "--port", std::to_string(port)},
        absl::StrCat(dir_.path(), "/gateway-", ++gateway_restarts_, ".log"));
    ASSERT_TRUE(gw.ok()) << gw.status();
    gateway_ = *std::move(gw);
  }

  void KillProcessor(ChildProcess* p) {
    ASSERT_EQ(::kill(p->pid(), SIGKILL), 0);
    ASSERT_TRUE(p->Wait(absl::Seconds(10)).ok());
  }

  int gateway_restarts_ = 0;
};

// ---- Deterministic under failure --------------------------------------------------------------

constexpr int kRecords = 3000;
constexpr int kKeys = 10;
constexpr int kChunks = 3;
constexpr int64_t kBaseMillis = 1'700'000'000'000;  // 2023-11-14T22:13:20Z, a window boundary.
constexpr int64_t kWindowMillis = 2000;

// Record i's event time: 10 ms apart, each up to 290 ms early (less than the 500 ms of
// --max-out-of-orderness, so no record is late however the records are read).
int64_t EventMillis(int i) { return kBaseMillis + i * 10 + 300 - (i * 7919) % 291; }
std::string KeyOf(int i) { return absl::StrCat("k", i % kKeys); }

std::string FormatMillis(int64_t millis) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E3SZ", absl::FromUnixMillis(millis),
                          absl::UTCTimeZone());
}

// What the window digest function answers for every (key, window) of the input.
std::map<WindowKey, std::string> ExpectedDigests() {
  std::map<WindowKey, std::vector<int>> ids;
  for (int i = 0; i < kRecords; ++i) {
    const int64_t t = EventMillis(i);
    ids[{KeyOf(i), FormatMillis(t - t % kWindowMillis)}].push_back(i);
  }
  std::map<WindowKey, std::string> out;
  for (auto& [key, list] : ids) {
    std::sort(list.begin(), list.end());
    out[key] = absl::StrCat(R"({"key":")", key.first, R"(","start":")", key.second, R"(","ids":[)",
                            absl::StrJoin(list, ","), "]}");
  }
  return out;
}

enum class Faults { kNone, kKills };

struct DigestRun {
  std::map<WindowKey, std::set<std::string>> digests;  // Every distinct answer per window.
  size_t outputs = 0;                                  // With duplicates.
};

class DeterministicUnderFailure : public KeyedPipeline {
 protected:
  // One pipeline over fresh streams and group `name`: `events` (2 partitions, keyed by
  // publisher and --key-by) → window digest per (key, 2 s event-time window) → `digests`.
  // The input goes in kChunks publishes; with kKills the processor is killed after the first
  // and the third chunk, and the gateway after the second, each while windows are in flight.
  DigestRun Run(const std::string& name, Faults faults) {
    const std::string events = name + "-events", digests = name + "-digests", late = name + "-late";
    CreateStream(events, "application/json", 2);
    CreateStream(digests);
    CreateStream(late);
    // --idle-timeout must outlast the gateway's restart below: a lane whose partitions are all
    // quiet moves event time on with the clock, and records read after that would come late
    // (they would show on the late stream, which must stay empty).
    const std::vector<std::string> args = absl::StrSplit(
        absl::StrCat(
            "--name ", name, " --function ", function_, " --input ", In(events), " --output ",
            In(digests), " --key-by /k --event-time /t --window time=2s",
            " --max-out-of-orderness 500ms --idle-timeout 6s --late side-output:", In(late)),
        ' ');
    ChildProcess* processor = StartProcessor(args);
    if (processor == nullptr) return {};
    for (int c = 0; c < kChunks; ++c) {
      std::vector<std::string> payloads, keys;
      for (int i = c * kRecords / kChunks; i < (c + 1) * kRecords / kChunks; ++i) {
        payloads.push_back(
            absl::StrCat(R"({"id":)", i, R"(,"k":")", KeyOf(i), R"(","t":)", EventMillis(i), "}"));
        keys.push_back(KeyOf(i));
      }
      Publish(events, payloads, "application/json", keys);
      // Wait for the first answer of a window of this chunk (past its first window, which the
      // previous chunk's records may have fired): the kill then comes with this chunk's windows
      // published, invoking, collecting, and its last ones waiting for the next chunk.
      const int64_t first = EventMillis(c * kRecords / kChunks) + 2 * kWindowMillis;
      EXPECT_TRUE(WaitForWindowFrom(digests, FormatMillis(first - first % kWindowMillis)))
          << "chunk " << c;
      if (faults == Faults::kNone) continue;
      if (c == 1) {
        RestartGateway();
      } else {
        KillProcessor(processor);
        processor = StartProcessor(args);
        if (processor == nullptr) return {};
      }
    }
    // The last windows fire once the partitions have been quiet for --idle-timeout. Every
    // input acknowledged means every window's digest is durable.
    std::map<uint32_t, int64_t> last;
    for (const auto& [p, end] : EndOffsets(events)) {
      EXPECT_GT(end, 0) << "no key of " << kKeys << " landed in partition " << p;
      last[p] = end - 1;
    }
    EXPECT_TRUE(WaitForAllAcked(events, name, last, absl::Seconds(60)))
        << "acked: " << GroupOffset(events, name, 0) << ", " << GroupOffset(events, name, 1);
    EXPECT_EQ(ReadToEnd(late, 0).size(), 0u) << "records came late";
    DigestRun run;
    for (const Received& r : ReadToEnd(digests, 0)) {
      ++run.outputs;
      const auto& ext = r.event.extensions();
      auto start = ext.find("runnelwindowstart");
      run.digests[{r.key, start == ext.end() ? "none" : start->second}].insert(r.event.data());
    }
    return run;
  }

  void SetUp() override {
    KeyedPipeline::SetUp();
    function_ = StartFunction(WINDOW_DIGEST_BINARY);
  }

  std::string function_;
};

// Describes how `got` differs from `want` (at most a few windows).
std::string Diff(const std::map<WindowKey, std::set<std::string>>& got,
                 const std::map<WindowKey, std::string>& want) {
  std::string out;
  int shown = 0, missing = 0, differ = 0, unexpected = 0;
  for (const auto& [key, digest] : want) {
    auto it = got.find(key);
    if (it == got.end()) {
      ++missing;
      if (shown++ < 5) absl::StrAppend(&out, "\n  missing ", key.first, " @ ", key.second);
    } else if (it->second != std::set<std::string>{digest}) {
      ++differ;
      if (shown++ < 5) {
        absl::StrAppend(&out, "\n  ", key.first, " @ ", key.second, ": want ", digest, "\n    got ",
                        absl::StrJoin(it->second, "\n    got "));
      }
    }
  }
  for (const auto& [key, digests] : got) {
    if (want.count(key)) continue;
    ++unexpected;
    if (shown++ < 5) {
      absl::StrAppend(&out, "\n  unexpected ", key.first, " @ ", key.second, ": ",
                      absl::StrJoin(digests, " | "));
    }
  }
  if (out.empty()) return out;
  return absl::StrCat(missing, " of ", want.size(), " windows missing, ", differ,
                      " with another answer, ", unexpected, " unexpected:", out);
}

std::map<WindowKey, std::string> Single(const std::map<WindowKey, std::set<std::string>>& runs) {
  std::map<WindowKey, std::string> out;
  for (const auto& [key, digests] : runs) out[key] = absl::StrJoin(digests, " | ");
  return out;
}

TEST_F(DeterministicUnderFailure, KilledProcessorAndGatewayGiveTheSameWindowsAsNoFault) {
  const std::map<WindowKey, std::string> want = ExpectedDigests();
  const DigestRun calm = Run("calm", Faults::kNone);
  ASSERT_FALSE(HasFailure());
  // Without faults every (key, window) fires once, with exactly its records.
  EXPECT_EQ(calm.outputs, want.size());
  EXPECT_TRUE(calm.digests.size() == want.size() && Diff(calm.digests, want).empty())
      << Diff(calm.digests, want);

  const DigestRun killed = Run("killed", Faults::kKills);
  ASSERT_FALSE(HasFailure());
  // With kills: the same windows, each with the same answer (repeated at most, under
  // at-least-once), none missing, none partial.
  const std::map<WindowKey, std::string> calm_answers = Single(calm.digests);
  EXPECT_TRUE(killed.digests.size() == calm_answers.size() &&
              Diff(killed.digests, calm_answers).empty())
      << Diff(killed.digests, calm_answers);
  RecordProperty("windows", static_cast<int>(want.size()));
  RecordProperty("outputs_with_kills", static_cast<int>(killed.outputs));
}

// ---- Keys through a chain ---------------------------------------------------------------------

// nums (2 partitions) → square → sq1 (3) → square → sq2 (4) → square → sq3 (3): each output
// takes its input's key, so every key's records stay in one partition per stream and in order.
TEST_F(KeyedPipeline, KeysAndPerKeyOrderHoldThroughAChainAcrossPartitionCounts) {
  const std::vector<std::pair<std::string, int>> streams{
      {"nums", 2}, {"sq1", 3}, {"sq2", 4}, {"sq3", 3}};
  for (const auto& [stream, partitions] : streams) {
    CreateStream(stream, "application/json", partitions);
  }
  const std::string fn = StartFunction(SQUARE_BINARY);
  for (size_t i = 0; i + 1 < streams.size(); ++i) {
    ASSERT_NE(StartProcessor({"--name", absl::StrCat("square-", i), "--function", fn, "--input",
                              In(streams[i].first), "--output", In(streams[i + 1].first),
                              "--window", "count=10,time=100ms"}),
              nullptr);
  }
  constexpr int kPerKey = 20;
  // Interleaved keys, each key counting up 1..20, in a few publishes.
  for (int batch = 0; batch < 4; ++batch) {
    std::vector<std::string> payloads, keys;
    for (int n = batch * kPerKey / 4 + 1; n <= (batch + 1) * kPerKey / 4; ++n) {
      for (int k = 0; k < kKeys; ++k) {
        payloads.push_back(std::to_string(n));
        keys.push_back(absl::StrCat("k", k));
      }
    }
    Publish("nums", payloads, "application/json", keys);
  }
  // Every key's outputs, in offset order of their partition.
  std::map<std::string, std::vector<double>> by_key;
  std::map<std::string, std::set<uint32_t>> partitions_of;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  size_t total = 0;
  while (total < kKeys * kPerKey && absl::Now() < deadline) {
    by_key.clear();
    partitions_of.clear();
    total = 0;
    for (uint32_t p = 0; p < 3; ++p) {
      for (const Received& r : ReadToEnd("sq3", p, absl::Seconds(10))) {
        by_key[r.key].push_back(std::strtod(r.event.data().c_str(), nullptr));
        partitions_of[r.key].insert(p);
        ++total;
      }
    }
    if (total < kKeys * kPerKey) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(total, static_cast<size_t>(kKeys * kPerKey));
  std::vector<double> want;
  for (int n = 1; n <= kPerKey; ++n) want.push_back(std::pow(static_cast<double>(n), 8));
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = absl::StrCat("k", k);
    EXPECT_EQ(by_key[key], want) << "key " << key;
    EXPECT_EQ(partitions_of[key].size(), 1u) << "key " << key;
  }
  EXPECT_EQ(by_key.size(), static_cast<size_t>(kKeys)) << "outputs without their input's key";
}

// ---- One poison record ------------------------------------------------------------------------

// A window of 100 records, one of which is not JSON: the function fails the window; the
// processor finds that one record, dead-letters it alone with the error, and publishes the
// other 99 answers once.
TEST_F(KeyedPipeline, OnePoisonRecordInAWindowOfAHundredIsTheOnlyDeadLetter) {
  CreateStream("numbers");
  CreateStream("squares");
  CreateStream("dlq", "*/*");
  const std::string fn = StartFunction(SQUARE_BINARY);
  ChildProcess* p = StartProcessor({"--name", "squarer", "--function", fn, "--input", In("numbers"),
                                    "--output", In("squares"), "--window", "count=100,time=5s",
                                    "--dead-letter", In("dlq"), "--max-attempts", "2"});
  ASSERT_NE(p, nullptr);
  std::vector<std::string> payloads = Numbers(1, 100);
  payloads[41] = "notjson";
  Publish("numbers", payloads, "application/json", std::vector<std::string>(100, "one-key"));
  ASSERT_TRUE(WaitForGroupOffset("numbers", "squarer", 99)) << GroupOffset("numbers", "squarer");
  // Acknowledged: every output and dead letter is durable.
  std::vector<Received> dead = ReadToEnd("dlq", 0);
  ASSERT_EQ(dead.size(), 1u) << p->Log();
  EXPECT_EQ(dead[0].event.data(), "notjson");
  EXPECT_EQ(dead[0].key, "one-key");
  EXPECT_EQ(dead[0].event.extensions().at("runneloffset"), "41");
  EXPECT_THAT(dead[0].event.extensions().at("runnelerror"), HasSubstr("INVALID_ARGUMENT"));
  std::vector<Received> out = ReadToEnd("squares", 0);
  std::multiset<std::string> got;
  for (const Received& r : out) got.insert(r.event.data());
  std::multiset<std::string> want;
  for (int n = 1; n <= 100; ++n) {
    if (n != 42) want.insert(std::to_string(n * n));
  }
  EXPECT_EQ(got, want) << "outputs: " << out.size();
  for (const Received& r : out) EXPECT_EQ(r.key, "one-key");
}

}  // namespace
}  // namespace runnel::testing
