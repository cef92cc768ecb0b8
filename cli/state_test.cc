#include "cli/state.h"

#include <gtest/gtest.h>

#include "tests/testing/process.h"

namespace runnel::cli {
namespace {

State SampleState() {
  State s;
  s.gateways["g"] = {.name = "g", .store = "file", .grpc_port = 7000, .http_port = 7001,
                     .created_unix_ms = 5};
  s.streams["numbers"] = {.name = "numbers", .gateway = "g", .content_type = "text/plain",
                          .partitions = 3, .created_unix_ms = 6};
  ProcessorSpec p{.name = "sq", .function_cmd = "square", .window = "tumbling:1s",
                  .input_content_type = "text/plain", .replicas = 2, .created_unix_ms = 7};
  p.inputs = {{.alias = "in", .stream = "numbers", .start_offset = "earliest"}};
  p.outputs = {{.alias = "out", .stream = "numbers"}};
  p.env = {{"K", "V"}};
  p.working_dir = "/somewhere";
  p.function_url = "/invoke";
  p.dead_letter = "numbers-dlq";
  p.key_by = ".user";
  p.event_time = "/ts";
  p.max_out_of_orderness = "5s";
  p.allowed_lateness = "1m";
  p.idle_timeout = "0";
  p.late = "side-output:late-numbers";
  p.max_attempts = 0;
  p.invoke_timeout = "30s";
  p.ports = {{1, 2, 3}, {4, 5, 6}};
  s.processors["sq"] = p;
  return s;
}

TEST(State, RoundTripsThroughJson) {
  State s = SampleState();
  absl::StatusOr<State> back = ParseState(SerializeState(s), "state.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(SerializeState(*back), SerializeState(s));
  EXPECT_EQ(back->processors.at("sq").ports[1].function_http_port, 5);
  EXPECT_EQ(back->processors.at("sq").inputs[0].start_offset, "earliest");
  EXPECT_EQ(back->streams.at("numbers").partitions, 3);
  EXPECT_EQ(back->processors.at("sq").working_dir, "/somewhere");
  EXPECT_EQ(back->processors.at("sq").function_url, "/invoke");
  EXPECT_EQ(back->processors.at("sq").dead_letter, "numbers-dlq");
  const ProcessorSpec& p = back->processors.at("sq");
  EXPECT_EQ(p.key_by, ".user");
  EXPECT_EQ(p.event_time, "/ts");
  EXPECT_EQ(p.max_out_of_orderness, "5s");
  EXPECT_EQ(p.allowed_lateness, "1m");
  EXPECT_EQ(p.idle_timeout, "0");
  EXPECT_EQ(p.late, "side-output:late-numbers");
  EXPECT_EQ(p.max_attempts, 0);
  EXPECT_EQ(p.invoke_timeout, "30s");
}

// A state.json written before keys and event time existed loads with the processor's defaults.
TEST(State, OlderFilesLoadWithDefaults) {
  absl::StatusOr<State> s = ParseState(
      R"({"processors":{"sq":{"function_cmd":"square","window":"count=10"}}})", "state.json");
  ASSERT_TRUE(s.ok()) << s.status();
  const ProcessorSpec& p = s->processors.at("sq");
  EXPECT_EQ(p.key_by, "");
  EXPECT_EQ(p.event_time, "");
  EXPECT_EQ(p.late, "");
  EXPECT_EQ(p.max_attempts, -1);
  EXPECT_EQ(p.invoke_timeout, "");
}

TEST(State, MalformedFileIsDataLossNamingIt) {
  auto bad = ParseState("{not json", "/x/state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("/x/state.json"), std::string::npos);
  auto wrong_type = ParseState(R"({"gateways":{"g":{"grpc_port":"x"}}})", "s");
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kDataLoss);
}

TEST(StateStore, MissingFileIsEmptyState) {
  testing::TempDir dir;
  StateStore store(Paths(dir.path() + "/home"));
  absl::StatusOr<State> s = store.Load();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->gateways.empty());
}

TEST(StateStore, UpdatePersistsAndFailedChangeDoesNot) {
  testing::TempDir dir;
  Paths paths(dir.path() + "/home");
  StateStore store(paths);
  ASSERT_TRUE(store.Update([](State& s) {
                s.gateways["g"] = {.name = "g"};
                return absl::OkStatus();
              }).ok());
  absl::Status failed = store.Update([](State& s) {
    s.gateways["h"] = {.name = "h"};
    return absl::FailedPreconditionError("no");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<State> s = StateStore(paths).Load();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->gateways.size(), 1u);
  EXPECT_EQ(s->gateways.count("g"), 1u);
}

TEST(Status, RoundTripsThroughJson) {
  ControlPlaneStatus st{.pid = 42, .updated_unix_ms = 1};
  st.processes.push_back({.name = "gateway/g", .phase = "BackOff", .pid = 0, .restarts = 3,
                          .last_exit = "exited with code 1", .log_path = "/l"});
  st.streams["numbers"] = "";
  absl::StatusOr<ControlPlaneStatus> back = ParseStatus(SerializeStatus(st), "status.json");
  ASSERT_TRUE(back.ok());
  ASSERT_NE(back->Find("gateway/g"), nullptr);
  EXPECT_EQ(back->Find("gateway/g")->restarts, 3);
  EXPECT_EQ(back->streams.count("numbers"), 1u);
}

TEST(TailFile, LastLines) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/log";
  ASSERT_TRUE(WriteFileAtomically(path, "a\nb\nc\nd\n").ok());
  EXPECT_EQ(TailFile(path, 2), "c\nd\n");
  EXPECT_EQ(TailFile(path, 10), "a\nb\nc\nd\n");
  EXPECT_EQ(TailFile(dir.path() + "/none", 2), "");
}

TEST(LogOffsetSince, StartsAtTheSizeRecordedLastBeforeTheCutoff) {
  const std::string times = "1000 0\n2000 120\n3000 400\nnot a line\n5000 900\n";
  EXPECT_EQ(LogOffsetSince(times, absl::FromUnixMillis(500)), 0);
  EXPECT_EQ(LogOffsetSince(times, absl::FromUnixMillis(2000)), 120);
  EXPECT_EQ(LogOffsetSince(times, absl::FromUnixMillis(2999)), 120);
  EXPECT_EQ(LogOffsetSince(times, absl::FromUnixMillis(4000)), 400);
  EXPECT_EQ(LogOffsetSince(times, absl::FromUnixMillis(9000)), 900);
  EXPECT_EQ(LogOffsetSince("", absl::FromUnixMillis(9000)), 0);
}

}  // namespace
}  // namespace runnel::cli
