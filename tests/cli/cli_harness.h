#pragma once
// Runs the built `runnel` binary against a temporary RUNNEL_HOME and brings its control plane
// down afterwards.

#include <signal.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/process.h"

namespace runnel::testing {

struct CliResult {
  int code = -1;
  std::string output;  // stdout and stderr, interleaved
};

class CliHarness : public ::testing::Test {
 protected:
  void TearDown() override {
    CliResult down = Runnel({"down"});
    EXPECT_EQ(down.code, 0) << down.output;
  }

  std::string home() const { return dir_.path() + "/home"; }

  CliResult Runnel(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(90)) {
    std::vector<std::string> argv{BuiltBinary("cli/runnel")};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = absl::StrCat(dir_.path(), "/run-", runs_++, ".out");
    auto child = ChildProcess::Start(argv, {{"RUNNEL_HOME", home()}}, log);
    if (!child.ok()) return {-1, child.status().ToString()};
    absl::StatusOr<int> code = child->Wait(timeout);
    if (!code.ok()) {
      (void)child->Stop(SIGKILL, absl::Seconds(5));
      return {-1, absl::StrCat("timed out: ", child->Log())};
    }
    return {*code, child->Log()};
  }

  // Lines of `text` that start with '{' (subscribe's records).
  static std::vector<std::string> JsonLines(const std::string& text) {
    std::vector<std::string> out;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!line.empty() && line[0] == '{') out.emplace_back(line);
    }
    return out;
  }

  TempDir dir_;
  int runs_ = 0;
};

}  // namespace runnel::testing
