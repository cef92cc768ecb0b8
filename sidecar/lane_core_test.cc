#include "sidecar/lane_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/metrics.h"
#include "common/record_selector.h"

namespace runnel::sidecar {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// A published record, as the tests look at it.
struct Out {
  std::string id;
  std::string key;
  std::string data;
  std::map<std::string, std::string> ext;
  std::string time;
};

// What a fake function does with one call's input frames: its outputs' payloads, or an error.
using FunctionBody =
    std::function<absl::StatusOr<std::vector<std::string>>(const std::vector<std::string>&)>;

// Runs a LaneCore against a function simulated in the test: a call answers when it is
// half-closed, every publish succeeds at once (unless `refuse_publish`), acks are recorded.
class Harness {
 public:
  explicit Harness(ProcessorOptions options) : options_(std::move(options)) {
    if (options_.inputs.empty()) options_.inputs.push_back({.alias = "in", .stream = "in"});
    if (options_.outputs.empty()) options_.outputs.push_back({.alias = "out", .stream = "out"});
    options_.name = "p";
    core_ =
        std::make_unique<LaneCore>(options_, LaneMetrics::Register(registry_, options_), nullptr);
  }

  void Add(int64_t offset, std::string data, std::string key = "", uint32_t partition = 0,
           std::string ce_time = "") {
    InputRecord r{.input = 0, .partition = partition, .offset = offset, .key = std::move(key)};
    r.event.set_id(absl::StrCat("e", offset));
    r.event.set_data(std::move(data));
    r.event.set_data_content_type("application/json");
    r.event.set_time(std::move(ce_time));
    core_->Add(std::move(r), now_);
    Run();
  }

  // Moves time on by `d` in steps, running timers as they come due.
  void Wait(absl::Duration d) {
    const absl::Time until = now_ + d;
    for (int guard = 0; guard < 100000; ++guard) {
      std::optional<absl::Time> next = core_->NextTimer(now_);
      if (!next || *next > until) break;
      now_ = std::max(now_, *next);
      core_->Advance(now_);
      Run();
    }
    now_ = until;
    core_->Advance(now_);
    Run();
  }

  void Run() {
    for (int guard = 0; guard < 100000; ++guard) {
      std::vector<LaneCommand> commands = core_->TakeCommands();
      if (commands.empty()) return;
      for (LaneCommand& c : commands) Execute(c);
    }
    FAIL() << "the lane never settled";
  }

  std::string Metric(const std::string& line) {
    std::string all = registry_.Render();
    size_t at = all.find("\n" + line + " ");
    if (at == std::string::npos) return "";
    at += line.size() + 2;
    return all.substr(at, all.find('\n', at) - at);
  }

  FunctionBody body = [](const std::vector<std::string>& in) { return in; };  // Echo.
  bool answers_after_half_close = true;
  bool refuse_publish = false;
  bool emit_before_failing = false;  // A failing call echoes its inputs before it fails.
  // A request-reply function that says so (FunctionTraits::answers_in_order): it answers each
  // frame as it arrives with body({frame}); the first frame it cannot answer fails the call.
  bool request_reply = false;
  std::vector<Out> outputs, dead, late;
  std::map<std::pair<int, uint32_t>, int64_t> acks;
  std::vector<size_t> call_sizes;       // Frames per call, in start order.
  std::vector<Checkpoint> checkpoints;  // Durable, in order.
  std::vector<std::map<std::string, std::string>> first_headers;  // Per call.
  LaneCore& core() { return *core_; }
  // A new process: the same options, a fresh core that resumes from `checkpoint`.
  void Restart(const std::optional<Checkpoint>& checkpoint) {
    core_ =
        std::make_unique<LaneCore>(options_, LaneMetrics::Register(registry_, options_), nullptr);
    calls_.clear();
    if (checkpoint) core_->Restore(*checkpoint);
  }
  absl::Time now() const { return now_; }

 private:
  void Execute(LaneCommand& command) {
    if (auto* start = std::get_if<lane::StartCall>(&command)) {
      std::vector<std::string>& frames = calls_[start->call];
      for (auto& f : start->frames) frames.push_back(f.payload());
      first_headers.push_back(start->frames.empty() ? std::map<std::string, std::string>{}
                                                    : std::map<std::string, std::string>(
                                                          start->frames[0].headers().begin(),
                                                          start->frames[0].headers().end()));
      call_sizes.push_back(start->frames.size());
      core_->OnTraits(
          start->call,
          {.answers_after_half_close = answers_after_half_close, .answers_in_order = request_reply},
          now_);
      if (request_reply) {
        failed_.erase(start->call);
        for (const std::string& payload : frames) Answer(start->call, payload);
      }
    } else if (auto* send = std::get_if<lane::Send>(&command)) {
      std::vector<std::string>& frames = calls_[send->call];
      if (frames.empty() && !first_headers.empty() && first_headers.back().empty()) {
        first_headers.back() = {send->frame.headers().begin(), send->frame.headers().end()};
      }
      frames.push_back(send->frame.payload());
      if (request_reply) Answer(send->call, send->frame.payload());
    } else if (auto* close = std::get_if<lane::HalfClose>(&command)) {
      const CallId id = close->call;
      if (request_reply) {
        calls_.erase(id);
        if (!failed_.count(id)) core_->OnCallDone(id, absl::OkStatus(), now_);
        return;
      }
      std::vector<std::string> frames = calls_[id];
      calls_.erase(id);
      absl::StatusOr<std::vector<std::string>> result = body(frames);
      if (!result.ok() && emit_before_failing) {
        for (const std::string& payload : frames) {  // What a function emits before it fails.
          streaming::OutputFrame f;
          f.set_payload(payload);
          core_->OnOutput(id, f, now_);
        }
      }
      if (result.ok()) {
        for (const std::string& payload : *result) {
          streaming::OutputFrame f;
          f.set_payload(payload);
          f.set_contenttype("application/json");
          core_->OnOutput(id, f, now_);
        }
      }
      core_->OnCallDone(id, result.status(), now_);
    } else if (auto* cancel = std::get_if<lane::Cancel>(&command)) {
      calls_.erase(cancel->call);
    } else if (auto* publish = std::get_if<lane::Publish>(&command)) {
      std::vector<Out>& into = publish->target == lane::Target::kOutput       ? outputs
                               : publish->target == lane::Target::kDeadLetter ? dead
                                                                              : late;
      if (refuse_publish && publish->target == lane::Target::kOutput) {
        core_->OnPublished(publish->group, absl::InvalidArgumentError("refused"), now_);
        return;
      }
      for (const auto& r : publish->records) {
        into.push_back(
            {r.liiklusevent().id(),
             r.key(),
             r.liiklusevent().data(),
             {r.liiklusevent().extensions().begin(), r.liiklusevent().extensions().end()},
             r.liiklusevent().time()});
      }
      core_->OnPublished(publish->group, absl::OkStatus(), now_);
    } else if (auto* ack = std::get_if<lane::Ack>(&command)) {
      acks[{ack->input, ack->partition}] = ack->offset;
    } else if (auto* write = std::get_if<lane::WriteCheckpoint>(&command)) {
      checkpoints.push_back(write->checkpoint);
      core_->OnCheckpointWritten(write->seq, absl::OkStatus(), now_);
    }
  }

  // Request-reply: one frame's answer, or the call's failure.
  void Answer(CallId id, const std::string& payload) {
    if (failed_.count(id) || !calls_.count(id)) return;
    absl::StatusOr<std::vector<std::string>> result = body({payload});
    if (!result.ok()) {
      failed_.insert(id);
      calls_.erase(id);
      core_->OnCallDone(id, result.status(), now_);
      return;
    }
    const size_t index = answered_frames_[id]++;
    if (result->empty()) {
      core_->OnNoOutput(id, index, now_);  // An HTTP 204.
      return;
    }
    for (const std::string& out : *result) {
      streaming::OutputFrame f;
      f.set_payload(out);
      core_->OnOutput(id, f, now_);
    }
  }

  std::map<CallId, size_t> answered_frames_;

  std::set<CallId> failed_;
  ProcessorOptions options_;
  MetricsRegistry registry_;
  std::unique_ptr<LaneCore> core_;
  std::map<CallId, std::vector<std::string>> calls_;
  absl::Time now_ = kStart;
};

ProcessorOptions Options(const std::string& window) {
  ProcessorOptions o;
  o.window = *ParseWindowSpec(window);
  o.invoke_retry = {.initial_backoff = absl::Milliseconds(100),
                    .max_backoff = absl::Seconds(1),
                    .jitter = 0,
                    .max_attempts = 3};
  o.dead_letter = StreamBinding{.alias = "dlq", .stream = "dlq"};
  return o;
}

std::vector<std::string> Data(const std::vector<Out>& records) {
  std::vector<std::string> out;
  for (const Out& r : records) out.push_back(r.data);
  return out;
}

// Squares JSON numbers; anything else fails the whole call, as a function that throws would.
absl::StatusOr<std::vector<std::string>> Square(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const std::string& s : in) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(s, &n)) return absl::InvalidArgumentError(absl::StrCat("bad: ", s));
    out.push_back(absl::StrCat(n * n));
  }
  return out;
}

TEST(LaneCore, RequestReplyOutputsInheritTheirInputsKeysAndInputsAreAckedOnceDurable) {
  Harness h(Options("count=3"));
  h.body = Square;
  h.Add(0, "1", "a");
  h.Add(1, "2", "b");
  EXPECT_THAT(h.outputs, IsEmpty()) << "held until the call completes";
  EXPECT_THAT(h.acks, IsEmpty());
  h.Add(2, "3", "a");
  ASSERT_THAT(h.outputs, SizeIs(3));
  EXPECT_EQ(h.outputs[0].key, "a");
  EXPECT_EQ(h.outputs[1].key, "b");
  EXPECT_EQ(h.outputs[2].key, "a");
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "4", "9"));
  EXPECT_EQ((h.acks[{0, 0}]), 2);
}

TEST(LaneCore, ARequestReplyFunctionsAnswersArePublishedAsTheyCome) {
  Harness h(Options("count=1000,time=1s"));
  h.request_reply = true;
  h.body = Square;
  h.Add(0, "2", "a");
  h.Add(1, "3", "b");
  EXPECT_THAT(Data(h.outputs), ElementsAre("4", "9")) << "not held until the window closes";
  EXPECT_EQ(h.outputs[1].key, "b");
  EXPECT_THAT(h.acks, IsEmpty()) << "acknowledged when the window completes";
  h.Wait(absl::Seconds(1));
  EXPECT_EQ((h.acks[{0, 0}]), 1);
}

TEST(LaneCore, ARequestReplyCallThatFailsIsRetriedWithTheFramesNotYetAnswered) {
  Harness h(Options("count=3"));
  h.request_reply = true;
  int failures = 0;
  h.body =
      [&failures](const std::vector<std::string>& in) -> absl::StatusOr<std::vector<std::string>> {
    if (in[0] == "2" && failures++ == 0) return absl::UnavailableError("flaky");
    return Square(in);
  };
  h.Add(0, "1");
  h.Add(1, "2");
  h.Add(2, "3");
  h.Wait(absl::Seconds(1));
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "4", "9")) << "each answer once";
  EXPECT_THAT(h.call_sizes, ElementsAre(0, 2)) << "the retry sends 2 and 3 only";
}

// HTTP: a 204 answers a frame with nothing; the answers after it still map to their inputs, and
// a retry does not ask again.
TEST(LaneCore, EmptyAnswersKeepTheOthersMappedToTheirInputs) {
  Harness h(Options("count=4"));
  h.request_reply = true;
  int failures = 0;
  h.body = [&failures](const std::vector<std::string>& in)
      -> absl::StatusOr<std::vector<std::string>> {
    if (in[0] == "2") return std::vector<std::string>{};  // 204.
    if (in[0] == "4" && failures++ == 0) return absl::UnavailableError("flaky");
    return Square(in);
  };
  h.Add(0, "1", "a");
  h.Add(1, "2", "b");
  h.Add(2, "3", "c");
  h.Add(3, "4", "d");
  h.Wait(absl::Seconds(1));
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "9", "16"));
  EXPECT_EQ(h.outputs[1].key, "c");
  EXPECT_EQ(h.outputs[2].key, "d");
  EXPECT_THAT(h.call_sizes, ElementsAre(0, 1)) << "the retry sends 4 alone";
}

// Answers of an event-time window published a few at a time still get distinct ids, the same
// on every run.
TEST(LaneCore, AnswersOfAnEventTimeWindowHaveDistinctStableIds) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  auto ids = [&o]() {
    Harness h(o);
    h.request_reply = true;
    h.Add(0, R"({"t":1800000001000})");
    h.Add(1, R"({"t":1800000002000})");
    h.Add(2, R"({"t":1800000012000})");  // Fires [0 s, 10 s).
    std::vector<std::string> out;
    for (const Out& r : h.outputs) out.push_back(r.id);
    return out;
  };
  const std::vector<std::string> first = ids();
  ASSERT_THAT(first, SizeIs(2));
  EXPECT_NE(first[0], first[1]);
  EXPECT_EQ(ids(), first);
}

TEST(LaneCore, APoisonRecordAmongRequestReplyAnswersIsTheOnlyDeadLetter) {
  Harness h(Options("count=10"));
  h.request_reply = true;
  h.body = Square;
  for (int i = 1; i <= 10; ++i) h.Add(i - 1, i == 5 ? "notjson" : absl::StrCat(i));
  h.Wait(absl::Seconds(30));
  EXPECT_THAT(Data(h.dead), ElementsAre("notjson"));
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "4", "9", "16", "36", "49", "64", "81", "100"));
}

TEST(LaneCore, ARequestReplyOutputCarriesItsInputsEventTime) {
  Harness h(Options("count=2"));
  h.Add(0, "1", "", 0, "2026-12-04T10:00:00.5Z");
  h.Add(1, "2", "", 0, "2026-12-04T10:00:01Z");
  ASSERT_THAT(h.outputs, SizeIs(2));
  EXPECT_EQ(h.outputs[0].time, "2026-12-04T10:00:00.5Z");
  EXPECT_EQ(h.outputs[1].time, "2026-12-04T10:00:01Z");
}

TEST(LaneCore, TheKeyReachesTheFunctionAsAHeader) {
  Harness h(Options("count=1"));
  h.Add(0, "1", "card-7");
  ASSERT_THAT(h.first_headers, SizeIs(1));
  EXPECT_EQ(h.first_headers[0]["x-runnel-key"], "card-7");
}

TEST(LaneCore, AFailedAttemptPublishesNothingAndTheRetryPublishesOnce) {
  Harness h(Options("count=4"));
  int calls = 0;
  h.body =
      [&calls](const std::vector<std::string>& in) -> absl::StatusOr<std::vector<std::string>> {
    if (++calls == 1) return absl::UnavailableError("flaky");
    return in;
  };
  h.emit_before_failing = true;
  for (int i = 0; i < 4; ++i) h.Add(i, absl::StrCat(i + 1));
  EXPECT_THAT(h.outputs, IsEmpty());
  h.Wait(absl::Seconds(1));
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "2", "3", "4"));
  EXPECT_THAT(h.dead, IsEmpty());
  EXPECT_EQ(h.Metric("runnel_processor_retries_total"), "1");
}

TEST(LaneCore, OnePoisonRecordInAWindowOf100IsTheOnlyDeadLetter) {
  Harness h(Options("count=100"));
  h.body = Square;
  for (int i = 0; i < 100; ++i) h.Add(i, i == 37 ? "notjson" : absl::StrCat(i));
  h.Wait(absl::Seconds(30));
  ASSERT_THAT(h.dead, SizeIs(1));
  EXPECT_EQ(h.dead[0].data, "notjson");
  EXPECT_EQ(h.dead[0].ext["runneloffset"], "37");
  EXPECT_THAT(h.dead[0].ext["runnelerror"], ::testing::HasSubstr("bad: notjson"));
  ASSERT_THAT(h.outputs, SizeIs(99));
  std::set<std::string> distinct;
  for (const Out& o : h.outputs) distinct.insert(o.data);
  EXPECT_THAT(distinct, SizeIs(99)) << "no duplicates";
  EXPECT_EQ(h.outputs.front().data, "0");
  EXPECT_EQ(h.outputs.back().data, "9801");
  EXPECT_EQ((h.acks[{0, 0}]), 99);
}

TEST(LaneCore, TheIssueExampleOneBadRecordAmongTen) {
  // square, count=10, records 1-4, notjson, 6-10 under one key.
  Harness h(Options("count=10,time=2s"));
  h.body = Square;
  h.emit_before_failing = true;  // Partial outputs of failed attempts must never leak.
  for (int i = 1; i <= 10; ++i) h.Add(i - 1, i == 5 ? "notjson" : absl::StrCat(i), "k");
  h.Wait(absl::Seconds(30));
  EXPECT_THAT(Data(h.dead), ElementsAre("notjson"));
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "4", "9", "16", "36", "49", "64", "81", "100"));
  for (const Out& o : h.outputs) EXPECT_EQ(o.key, "k");
}

TEST(LaneCore, WithoutADeadLetterStreamAFailingWindowIsRetriedForever) {
  ProcessorOptions o = Options("count=2");
  o.dead_letter.reset();
  Harness h(o);
  h.body = Square;
  h.Add(0, "1");
  h.Add(1, "x");
  h.Wait(absl::Seconds(20));
  EXPECT_THAT(h.outputs, IsEmpty());
  EXPECT_THAT(h.acks, IsEmpty());
  EXPECT_GT(h.call_sizes.size(), 10u);
}

TEST(LaneCore, KeyedEventTimeWindowsGiveTheSameAnswerWhateverTheArrivalOrder) {
  ProcessorOptions o = Options("time=10s");
  o.key_by = *KeySelector::Parse("/k");
  o.event_time = *TimeSelector::Parse("/t");
  o.max_out_of_orderness = absl::Seconds(5);
  o.idle_timeout = absl::Seconds(2);
  // Counts per (key, window) over a shuffled input with bounded disorder.
  auto run = [&](uint64_t seed) {
    Harness h(o);
    h.body = [](const std::vector<std::string>& in) -> absl::StatusOr<std::vector<std::string>> {
      return std::vector<std::string>{absl::StrCat(in.size())};
    };
    std::vector<std::pair<int64_t, std::string>> events;  // (millis, key)
    for (int i = 0; i < 300; ++i) {
      events.emplace_back(1'800'000'000'000LL + i * 100, absl::StrCat("k", i % 7));
    }
    // Arrival order: by event time plus a delay of up to 4 s (under max_out_of_orderness).
    std::mt19937_64 random(seed);
    std::vector<std::pair<int64_t, size_t>> arrival;
    for (size_t i = 0; i < events.size(); ++i) {
      arrival.emplace_back(events[i].first + (seed == 0 ? 0 : random() % 4000), i);
    }
    std::sort(arrival.begin(), arrival.end());
    std::vector<std::pair<int64_t, std::string>> shuffled;
    for (const auto& [at, i] : arrival) shuffled.push_back(events[i]);
    events.swap(shuffled);
    int64_t offset = 0;
    for (const auto& [t, k] : events) {
      h.Add(offset++, absl::StrCat(R"({"k":")", k, R"(","t":)", t, "}"), "");
    }
    h.Wait(absl::Seconds(60));
    std::map<std::string, std::string> result;  // "key@start" -> count
    for (const Out& out : h.outputs) {
      result[absl::StrCat(out.key, "@", out.ext.at("runnelwindowstart"))] = out.data;
    }
    EXPECT_EQ(h.Metric("runnel_processor_late_records_total"), "0");
    EXPECT_EQ((h.acks[{0, 0}]), 299);
    return result;
  };
  std::map<std::string, std::string> ordered = run(0);
  EXPECT_THAT(ordered, SizeIs(7 * 3)) << "30 s of events over 10 s windows, 7 keys";
  int total = 0;
  for (const auto& [k, n] : ordered) total += std::stoi(n);
  EXPECT_EQ(total, 300);
  EXPECT_EQ(run(1), ordered);
  EXPECT_EQ(run(2), ordered);
}

TEST(LaneCore, EventTimeWindowOutputsCarryTheWindowAndItsLastInstant) {
  ProcessorOptions o = Options("time=10s");
  o.key_by = *KeySelector::Parse("/k");
  o.event_time = *TimeSelector::Parse("/t");
  Harness h(o);
  h.Add(0, R"({"k":"a","t":1800000001000})");
  h.Add(1, R"({"k":"a","t":1800000012000})");  // Moves the watermark past the first window.
  ASSERT_THAT(h.outputs, SizeIs(1));
  EXPECT_EQ(h.outputs[0].key, "a");
  EXPECT_EQ(h.outputs[0].ext["runnelwindowstart"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(h.outputs[0].ext["runnelwindowend"], "2027-01-15T08:00:10.000Z");
  EXPECT_EQ(h.outputs[0].time, "2027-01-15T08:00:09.999Z");
  EXPECT_EQ(h.first_headers[0]["x-runnel-window-end"], "2027-01-15T08:00:10.000Z");
  EXPECT_EQ(h.first_headers[0]["x-runnel-key"], "a");
}

TEST(LaneCore, AnIdleStreamStillFiresItsLastWindow) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  o.idle_timeout = absl::Seconds(3);
  Harness h(o);
  h.Add(0, R"({"t":1800000001000})");
  h.Wait(absl::Seconds(2));
  EXPECT_THAT(h.outputs, IsEmpty());
  // Idle after 3 s, then event time runs with the clock from 1 s into the window: 9 s more.
  h.Wait(absl::Seconds(9));
  EXPECT_THAT(h.outputs, IsEmpty());
  h.Wait(absl::Seconds(2));
  EXPECT_THAT(h.outputs, SizeIs(1));
}

TEST(LaneCore, RecordsWaitingForTheLaneKeepTheirInputsFromGoingIdle) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  o.idle_timeout = absl::Seconds(3);
  Harness h(o);
  h.Add(0, R"({"t":1800000001000})");
  // The lane is busy (CanAccept() false) for 20 s while the next records wait in the shell:
  // idle, the stream would have fired its window after 12 s and the next record been late.
  for (int i = 0; i < 20; ++i) {
    h.core().OnRecordsWaiting(h.now());
    h.Wait(absl::Seconds(1));
  }
  EXPECT_THAT(h.outputs, IsEmpty());
  h.Add(1, R"({"t":1800000005000})");
  EXPECT_EQ(h.Metric("runnel_processor_late_records_total"), "0");
  h.Add(2, R"({"t":1800000011000})");  // Fires [0s, 10s): one call with both records.
  EXPECT_THAT(h.call_sizes, ElementsAre(2));
}

// The lag /status shows does not grow while every input is quiet: event time then moves on with
// the clock, whether or not the lane woke up to recompute it.
TEST(LaneCore, WatermarkLagStaysPutWhileTheInputsAreIdle) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  o.idle_timeout = absl::Seconds(3);
  Harness h(o);
  h.Add(0, R"({"t":1800000001000})");
  h.Wait(absl::Seconds(4));  // Idle: the watermark follows the clock from here.
  const LaneStats stats = h.core().stats();
  ASSERT_TRUE(stats.watermark_follows_clock);
  const absl::Duration at_compute = *stats.WatermarkLag(stats.watermark_computed);
  EXPECT_EQ(*stats.WatermarkLag(h.now() + absl::Seconds(100)), at_compute);
  // Not idle: the lag is the distance to the clock.
  h.Add(1, R"({"t":1800000002000})");
  const LaneStats busy = h.core().stats();
  EXPECT_FALSE(busy.watermark_follows_clock);
  EXPECT_EQ(*busy.WatermarkLag(h.now() + absl::Seconds(5)),
            h.now() + absl::Seconds(5) - busy.watermark);
}

ProcessorOptions LateOptions(ProcessorOptions::LateMode mode) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  o.late = mode;
  if (mode == ProcessorOptions::LateMode::kSideOutput) {
    o.late_output = StreamBinding{.alias = "late", .stream = "late"};
  }
  return o;
}

void FeedWithALateRecord(Harness& h) {
  h.Add(0, R"({"t":1800000001000})");
  h.Add(1, R"({"t":1800000011000})");  // Fires [0s, 10s).
  h.Add(2, R"({"t":1800000002000})");  // Late for it.
  h.Add(3, R"({"t":1800000022000})");  // Fires [10s, 20s).
}

TEST(LaneCore, LateRecordsAreDroppedAndCounted) {
  Harness h(LateOptions(ProcessorOptions::LateMode::kDrop));
  FeedWithALateRecord(h);
  EXPECT_THAT(h.outputs, SizeIs(2));
  EXPECT_THAT(h.late, IsEmpty());
  EXPECT_EQ(h.Metric("runnel_processor_late_records_total"), "1");
  h.Wait(kCheckpointInterval);  // On event time acks follow the next checkpoint.
  EXPECT_EQ((h.acks[{0, 0}]), 2) << "the late record is processed: dropped";
}

TEST(LaneCore, LateRecordsGoToTheSideOutputAsTheyAre) {
  Harness h(LateOptions(ProcessorOptions::LateMode::kSideOutput));
  FeedWithALateRecord(h);
  ASSERT_THAT(h.late, SizeIs(1));
  EXPECT_EQ(h.late[0].data, R"({"t":1800000002000})");
  EXPECT_EQ(h.late[0].ext["runnellate"], "true");
  EXPECT_THAT(h.outputs, SizeIs(2));
}

TEST(LaneCore, LateRecordsRefireTheirWindowAsAnUpdate) {
  Harness h(LateOptions(ProcessorOptions::LateMode::kRefire));
  h.body = [](const std::vector<std::string>& in) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{absl::StrCat(in.size())};
  };
  FeedWithALateRecord(h);
  ASSERT_THAT(h.outputs, SizeIs(3));
  EXPECT_EQ(h.outputs[1].ext["runnelupdate"], "true");
  EXPECT_EQ(h.outputs[1].ext["runnelwindowstart"], h.outputs[0].ext["runnelwindowstart"]);
  EXPECT_EQ(h.outputs[1].data, "1");
  EXPECT_EQ(h.first_headers[1]["x-runnel-update"], "true");
}

TEST(LaneCore, TheWatermarkWaitsForTheSlowestPartition) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  Harness h(o);
  h.Add(0, R"({"t":1800000001000})", "", 0);
  h.Add(0, R"({"t":1800000001000})", "", 1);
  h.Add(1, R"({"t":1800000031000})", "", 0);
  EXPECT_THAT(h.outputs, IsEmpty()) << "partition 1 is still at 1 s";
  h.Add(1, R"({"t":1800000012000})", "", 1);
  EXPECT_THAT(Data(h.outputs), ElementsAre(R"({"t":1800000001000})", R"({"t":1800000001000})"));
}

TEST(LaneCore, APartitionNotYetHeardFromHoldsTheWatermarkUntilTheIdleTimeout) {
  ProcessorOptions o = Options("time=10s");
  o.event_time = *TimeSelector::Parse("/t");
  o.idle_timeout = absl::Seconds(5);
  Harness h(o);
  h.core().ExpectPartitions(2, h.now());
  h.Add(0, R"({"t":1800000001000})", "", 0);
  h.Add(1, R"({"t":1800000031000})", "", 0);
  EXPECT_THAT(h.outputs, IsEmpty()) << "partition 1 may still bring records of 0-10 s";
  h.Add(0, R"({"t":1800000002000})", "", 1);  // Its reader started late: not late.
  EXPECT_EQ(h.Metric("runnel_processor_late_records_total"), "0");
  EXPECT_THAT(h.outputs, IsEmpty()) << "partition 1 is at 2 s";
  h.Wait(absl::Seconds(6));  // Partition 1 goes idle: the watermark is partition 0's.
  EXPECT_THAT(Data(h.outputs), ElementsAre(R"({"t":1800000001000})", R"({"t":1800000002000})"));
}

TEST(LaneCore, ARecordWithoutTheKeyFieldIsDeadLetteredAlone) {
  ProcessorOptions o = Options("count=2");
  o.key_by = *KeySelector::Parse("/k");
  Harness h(o);
  h.Add(0, R"({"k":"a"})");
  h.Add(1, R"({"x":1})");
  h.Add(2, R"({"k":"a"})");
  ASSERT_THAT(h.dead, SizeIs(1));
  EXPECT_EQ(h.dead[0].ext["runneloffset"], "1");
  EXPECT_THAT(h.dead[0].ext["runnelerror"], ::testing::HasSubstr("--key-by"));
  EXPECT_THAT(h.outputs, SizeIs(2));
  EXPECT_EQ((h.acks[{0, 0}]), 2);
}

TEST(LaneCore, RedeliveredRecordsAreDroppedAsDuplicates) {
  Harness h(Options("count=2"));
  h.Add(0, "1");
  h.Add(0, "1");
  h.Add(1, "2");
  EXPECT_THAT(Data(h.outputs), ElementsAre("1", "2"));
  EXPECT_EQ(h.Metric("runnel_processor_duplicates_total"), "1");
}

TEST(LaneCore, AFunctionThatDoesNotAnnounceItAnswersAfterHalfCloseGetsTheLinger) {
  ProcessorOptions o = Options("count=2");
  Harness h(o);
  h.answers_after_half_close = false;
  h.body = [](const std::vector<std::string>&) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{"sum"};
  };
  h.Add(0, "1");
  h.Add(1, "2");
  EXPECT_THAT(h.outputs, IsEmpty()) << "no half-close before the linger";
  h.Wait(kSafeHalfCloseIdle - absl::Milliseconds(1));
  EXPECT_THAT(h.outputs, IsEmpty());
  h.Wait(absl::Milliseconds(1));
  EXPECT_THAT(h.outputs, SizeIs(1));
}

TEST(LaneCore, AnOutputGroupRefusedForGoodFailsTheWindowLikeAFunctionError) {
  Harness h(Options("count=1"));
  h.refuse_publish = true;
  h.Add(0, "1");
  h.Wait(absl::Seconds(10));
  EXPECT_THAT(Data(h.dead), ElementsAre("1"));
  EXPECT_EQ((h.acks[{0, 0}]), 0);
}

// The point of the event-time work: kill the processor anywhere, restart it from what the gateway
// kept (acknowledged positions, the last durable checkpoint), replay what was not acknowledged,
// and every (key, window) gets the same answer as in a run without a crash.
TEST(LaneCore, ARestartAnywhereGivesTheSameAnswerPerKeyAndWindow) {
  ProcessorOptions o = Options("time=2s");
  o.key_by = *KeySelector::Parse("/k");
  o.event_time = *TimeSelector::Parse("/t");
  o.max_out_of_orderness = absl::Seconds(1);
  o.idle_timeout = absl::Seconds(1);
  // Records read again after the restart must not look late: with a side output they would
  // show up there.
  o.late = ProcessorOptions::LateMode::kSideOutput;
  o.late_output = StreamBinding{.alias = "late", .stream = "late"};
  std::vector<std::string> input;
  std::mt19937_64 random(7);
  for (int i = 0; i < 400; ++i) {
    // Event times 50 ms apart with up to 900 ms of disorder; 5 keys.
    const int64_t t = 1'800'000'000'000LL + i * 50 - static_cast<int64_t>(random() % 900);
    input.push_back(absl::StrCat(R"({"k":"k)", random() % 5, R"(","t":)", t, "}"));
  }
  auto sum = [](const std::vector<std::string>& in) -> absl::StatusOr<std::vector<std::string>> {
    std::vector<std::string> offsets;  // The window's contents, as the inputs' "t".
    for (const std::string& s : in) offsets.push_back(s.substr(s.find("\"t\":") + 4, 13));
    std::sort(offsets.begin(), offsets.end());
    return std::vector<std::string>{absl::StrJoin(offsets, ",")};
  };
  auto answers = [](const std::vector<Out>& outputs) {
    std::map<std::string, std::string> by_window;
    for (const Out& out : outputs) {
      const std::string at = absl::StrCat(out.key, "@", out.ext.at("runnelwindowstart"));
      auto [it, fresh] = by_window.emplace(at, out.data);
      EXPECT_EQ(it->second, out.data) << "two different answers for " << at;
    }
    return by_window;
  };
  Harness clean(o);
  clean.body = sum;
  for (size_t i = 0; i < input.size(); ++i) {
    clean.Add(static_cast<int64_t>(i), input[i]);
    clean.Wait(absl::Milliseconds(10));
  }
  clean.Wait(absl::Seconds(10));
  const std::map<std::string, std::string> want = answers(clean.outputs);
  ASSERT_GT(want.size(), 20u);

  for (size_t crash_at : {37u, 120u, 201u, 333u, 399u}) {
    SCOPED_TRACE(absl::StrCat("crash after ", crash_at, " records"));
    Harness h(o);
    h.body = sum;
    for (size_t i = 0; i <= crash_at; ++i) {
      h.Add(static_cast<int64_t>(i), input[i]);
      h.Wait(absl::Milliseconds(10));
    }
    // kill -9: what is not durable is gone; the gateway resumes after the acknowledged offset.
    auto acked = h.acks.find({0, 0});
    const int64_t resume = acked == h.acks.end() ? 0 : acked->second + 1;
    h.Restart(h.checkpoints.empty() ? std::nullopt
                                    : std::optional<Checkpoint>(h.checkpoints.back()));
    for (size_t i = static_cast<size_t>(resume); i < input.size(); ++i) {
      h.Add(static_cast<int64_t>(i), input[i]);
      h.Wait(absl::Milliseconds(10));
    }
    h.Wait(absl::Seconds(10));
    EXPECT_EQ(answers(h.outputs), want);
    EXPECT_EQ(Data(h.late), Data(clean.late));
  }
}

}  // namespace
}  // namespace runnel::sidecar
