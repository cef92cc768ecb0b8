#include "gateway/config.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace runnel::gateway {
namespace {

TEST(GatewayConfig, DefaultsMatchLiiklusAndRiff) {
  auto c = ParseGatewayCommandLine({}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.grpc_port, 6565);
  EXPECT_EQ(c->server.http_port, 8080);
  EXPECT_EQ(c->server.store.kind, RecordStoreOptions::Kind::kFile);
}

TEST(GatewayConfig, FlagsOverrideEnvironment) {
  auto c = ParseGatewayCommandLine({"--port=7000", "--store", "memory"},
                                   {{"RUNNEL_GATEWAY_PORT", "6000"},
                                    {"RUNNEL_GATEWAY_HTTP_PORT", "6001"},
                                    {"RUNNEL_GATEWAY_DATA_DIR", "/tmp/x"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.grpc_port, 7000);
  EXPECT_EQ(c->server.http_port, 6001);
  EXPECT_EQ(c->server.store.kind, RecordStoreOptions::Kind::kMemory);
  EXPECT_EQ(c->server.store.file.data_dir, "/tmp/x");
}

TEST(GatewayConfig, BadValuesNameTheSettingAndValue) {
  auto c = ParseGatewayCommandLine({"--port=99999"}, {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--port"), absl::string_view::npos);
  EXPECT_NE(c.status().message().find("99999"), absl::string_view::npos);
  c = ParseGatewayCommandLine({}, {{"RUNNEL_GATEWAY_STORE", "redis"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("RUNNEL_GATEWAY_STORE"), absl::string_view::npos);
  EXPECT_FALSE(ParseGatewayCommandLine({"--nope"}, {}).ok());
  EXPECT_FALSE(ParseGatewayCommandLine({"--store=kafka"}, {}).ok());
}

TEST(GatewayConfig, JsonFileRejectsUnknownFieldsAndAppliesKnownOnes) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto good = dir / ("runnel-gw-good-" + std::to_string(::getpid()) + ".json");
  const auto bad = dir / ("runnel-gw-bad-" + std::to_string(::getpid()) + ".json");
  std::ofstream(good) << R"({"grpcAddress":"127.0.0.1:7100","store":"memory","file":{"fsync":"interval"}})";
  std::ofstream(bad) << R"({"grpcAddress":"127.0.0.1:7100","colour":"blue"})";
  auto c = ParseGatewayCommandLine({"--config", good.string()}, {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.grpc_host, "127.0.0.1");
  EXPECT_EQ(c->server.grpc_port, 7100);
  EXPECT_EQ(c->server.store.kind, RecordStoreOptions::Kind::kMemory);
  EXPECT_EQ(c->server.store.file.fsync, RecordStoreOptions::File::Fsync::kInterval);
  EXPECT_FALSE(ParseGatewayCommandLine({"--config=" + bad.string()}, {}).ok());
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

}  // namespace
}  // namespace runnel::gateway
