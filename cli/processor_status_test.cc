#include "cli/processor_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http_server.h"

namespace runnel::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What runnel-processor serves (sidecar/status.h's StatusJson), written out by hand: the CLI must
// not link the sidecar.
constexpr char kStatus[] = R"({"ready":true,"state":"ok","records_in":100,"records_out":99,
  "dead_lettered":1,"retries":4,"invocation_errors":5,"late_records":7,
  "last_error":"invoke square: record 3: not JSON","last_error_time":"2026-12-04T10:00:00.250Z",
  "open_windows":2,"watermark_lag_seconds":1.5})";

TEST(ParseReplicaStatus, ReadsEveryFieldByName) {
  absl::StatusOr<ReplicaStatus> s = ParseReplicaStatus(kStatus);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->ready);
  EXPECT_EQ(s->state, "ok");
  EXPECT_EQ(s->records_in, 100u);
  EXPECT_EQ(s->records_out, 99u);
  EXPECT_EQ(s->dead_lettered, 1u);
  EXPECT_EQ(s->retries, 4u);
  EXPECT_EQ(s->invocation_errors, 5u);
  EXPECT_EQ(s->late_records, 7u);
  EXPECT_EQ(s->last_error, "invoke square: record 3: not JSON");
  EXPECT_EQ(s->last_error_time, "2026-12-04T10:00:00.250Z");
  EXPECT_EQ(s->open_windows, 2);
  EXPECT_EQ(s->watermark_lag_seconds, 1.5);
}

TEST(ParseReplicaStatus, MissingAndUnknownFieldsAreFineWrongTypesAreNot) {
  absl::StatusOr<ReplicaStatus> s = ParseReplicaStatus(R"({"ready":false,"future":1})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->watermark_lag_seconds, -1);
  EXPECT_EQ(ParseReplicaStatus("[]").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseReplicaStatus("not json").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseReplicaStatus(R"({"retries":"many"})").status().code(),
            absl::StatusCode::kDataLoss);
}

std::unique_ptr<HttpServer> Serve(int status, std::string body) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start({.address = "127.0.0.1", .port = 0, .threads = 1},
                        [status, body](HttpRequest request, HttpRespond respond) {
                          if (request.path != "/status") {
                            std::move(respond)(HttpResponse{.status = 404, .body = "no"});
                            return;
                          }
                          std::move(respond)(HttpResponse{
                              .status = status, .content_type = "application/json", .body = body});
                        });
  EXPECT_TRUE(server.ok()) << server.status();
  return *std::move(server);
}

TEST(FetchReplicaStatus, ReadsTheProcessorsStatusEndpoint) {
  std::unique_ptr<HttpServer> server = Serve(200, kStatus);
  absl::StatusOr<ReplicaStatus> s = FetchReplicaStatus(server->port(), absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->dead_lettered, 1u);
  EXPECT_EQ(s->last_error, "invoke square: record 3: not JSON");
}

TEST(FetchReplicaStatus, ErrorsSayWhatIsWrong) {
  std::unique_ptr<HttpServer> old = Serve(404, "");
  absl::StatusOr<ReplicaStatus> s = FetchReplicaStatus(old->port(), absl::Seconds(5));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("does not serve GET /status"));
  std::unique_ptr<HttpServer> failing = Serve(500, "{}");
  EXPECT_THAT(std::string(FetchReplicaStatus(failing->port(), absl::Seconds(5)).status().message()),
              HasSubstr("HTTP 500"));
  const int port = old->port();
  old->Stop();
  failing->Stop();
  s = FetchReplicaStatus(port, absl::Seconds(1));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("127.0.0.1:"));
}

TEST(CombineReplicaStatuses, CountersAddLagIsTheLargestErrorTheLatest) {
  ReplicaStatus a{.ready = true,
                  .state = "ok",
                  .records_in = 10,
                  .dead_lettered = 1,
                  .retries = 2,
                  .late_records = 3,
                  .last_error = "older",
                  .last_error_time = "2026-12-04T10:00:00.000Z",
                  .open_windows = 1,
                  .watermark_lag_seconds = 0.5};
  ReplicaStatus b{.ready = false,
                  .state = "waiting for the function",
                  .records_in = 5,
                  .dead_lettered = 2,
                  .retries = 1,
                  .late_records = 0,
                  .last_error = "newer",
                  .last_error_time = "2026-12-04T11:00:00.000Z",
                  .open_windows = 2,
                  .watermark_lag_seconds = 2};
  ReplicaStatus all = CombineReplicaStatuses({a, b});
  EXPECT_FALSE(all.ready);
  EXPECT_EQ(all.state, "waiting for the function");
  EXPECT_EQ(all.records_in, 15u);
  EXPECT_EQ(all.dead_lettered, 3u);
  EXPECT_EQ(all.retries, 3u);
  EXPECT_EQ(all.late_records, 3u);
  EXPECT_EQ(all.open_windows, 3);
  EXPECT_EQ(all.watermark_lag_seconds, 2);
  EXPECT_EQ(all.last_error, "newer");
  EXPECT_EQ(CombineReplicaStatuses({b, a}).last_error, "newer");
  EXPECT_EQ(CombineReplicaStatuses({}).watermark_lag_seconds, -1);
}

TEST(RenderStatusYaml, ShowsFailuresLagAndTheLastError) {
  EXPECT_EQ(RenderStatusYaml(*ParseReplicaStatus(kStatus)),
            "records:\n"
            "  in: 100\n"
            "  out: 99\n"
            "  deadLettered: 1\n"
            "  retries: 4\n"
            "  invocationErrors: 5\n"
            "  late: 7\n"
            "  openWindows: 2\n"
            "watermarkLag: 1.5s\n"
            "lastError: \"invoke square: record 3: not JSON\"\n"
            "lastErrorTime: \"2026-12-04T10:00:00.250Z\"\n");
  std::string quiet = RenderStatusYaml(ReplicaStatus{});
  EXPECT_THAT(quiet, HasSubstr("watermarkLag: null # arrival time"));
  EXPECT_THAT(quiet, HasSubstr("lastError: null\n"));
}

TEST(StatusColumns, CompactAndDashesWhenUnknown) {
  EXPECT_THAT(StatusColumns(*ParseReplicaStatus(kStatus)),
              ElementsAre("1", "4", "7", "1.5s", "invoke square: record 3: not JSON"));
  ReplicaStatus long_error{.last_error = std::string(50, 'x') + "\nmore"};
  EXPECT_THAT(StatusColumns(long_error),
              ElementsAre("0", "0", "0", "-", std::string(37, 'x') + "..."));
  EXPECT_THAT(StatusColumns(ReplicaStatus{}), ElementsAre("0", "0", "0", "-", "<none>"));
  EXPECT_THAT(StatusColumns(std::nullopt), ElementsAre("-", "-", "-", "-", "-"));
  EXPECT_EQ(std::size(kStatusColumns), StatusColumns(std::nullopt).size());
}

}  // namespace
}  // namespace runnel::cli
