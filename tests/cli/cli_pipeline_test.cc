// The whole data path through the CLI in local mode: numbers → square → squares, with the real
// gateway, the real runnel-processor sidecar and the SDK's square example.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "tests/cli/cli_harness.h"

namespace runnel::testing {
namespace {

using ::testing::HasSubstr;

class CliPipeline : public CliHarness {};

TEST_F(CliPipeline, NumbersAreSquaredThroughAProcessor) {
  ASSERT_EQ(Runnel({"gateway", "create", "main"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "numbers", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  ASSERT_EQ(Runnel({"stream", "create", "squares", "--gateway", "main", "--content-type",
                    "application/json"}).code, 0);
  CliResult r = Runnel({"processor", "create", "square", "--function-cmd",
                        BuiltBinary("sdk/examples/square"), "--input", "numbers@earliest",
                        "--output", "squares"});
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* n : {"1", "2", "3", "4"}) {
    ASSERT_EQ(Runnel({"publish", "numbers", "--payload", n}).code, 0);
  }
  r = Runnel({"subscribe", "squares", "--from-beginning", "--max", "4", "--timeout", "60s"});
  ASSERT_EQ(r.code, 0) << r.output << Runnel({"processor", "tail", "square", "--no-follow"}).output;
  std::vector<double> got;
  for (const std::string& line : JsonLines(r.output)) {
    got.push_back(std::stod(nlohmann::json::parse(line)["payload"].get<std::string>()));
  }
  EXPECT_EQ(got, (std::vector<double>{1, 4, 9, 16}));
  // The sidecar acknowledges its inputs once the results are stored, so the lag reaches 0 just
  // after the results are visible: poll for it (bounded).
  CliResult status;
  for (int i = 0; i < 100; ++i) {
    status = Runnel({"processor", "status", "square"});
    if (absl::StrContains(status.output, "lag: 0")) break;
    ::usleep(100'000);
  }
  EXPECT_THAT(status.output, HasSubstr("# square: Ready"));
  EXPECT_THAT(status.output, HasSubstr("lag: 0"));
}

}  // namespace
}  // namespace runnel::testing
