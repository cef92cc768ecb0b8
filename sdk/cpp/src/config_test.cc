#include "sdk/cpp/src/config.h"

#include <gtest/gtest.h>

#include <map>

namespace runnel::sdk::internal {
namespace {

absl::StatusOr<ServerOptions> Parse(std::vector<const char*> args,
                                    std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), "fn");
  return ParseServerOptions(static_cast<int>(args.size()), args.data(),
                            [&](const char* name) -> const char* {
                              auto it = env.find(name);
                              return it == env.end() ? nullptr : it->second.c_str();
                            });
}

TEST(ParseServerOptions, DefaultsAreRiffPorts) {
  absl::StatusOr<ServerOptions> o = Parse({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->grpc_port, 8081);
  EXPECT_EQ(o->http_port, 8080);
}

TEST(ParseServerOptions, FlagsOverrideEnvironment) {
  absl::StatusOr<ServerOptions> o =
      Parse({"--grpc-port=9000", "--http-port", "-1"}, {{"GRPC_PORT", "7000"}, {"HTTP_PORT", "7001"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->grpc_port, 9000);
  EXPECT_EQ(o->http_port, -1);
  EXPECT_EQ(Parse({}, {{"GRPC_PORT", "7000"}})->grpc_port, 7000);
}

TEST(ParseServerOptions, RejectsBadValuesAndUnknownFlags) {
  EXPECT_FALSE(Parse({"--grpc-port=70000"}).ok());
  EXPECT_FALSE(Parse({}, {{"HTTP_PORT", "x"}}).ok());
  EXPECT_FALSE(Parse({"--colour=blue"}).ok());
}

}  // namespace
}  // namespace runnel::sdk::internal
