#pragma once
// Runs the built `runnel` binary against a temporary RUNNEL_HOME and brings its control plane
// down afterwards.

#include <dirent.h>
#include <signal.h>

#include <fstream>
#include <iterator>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    // `down` stops everything it started; a leftover is a bug (and is killed so it cannot leak
    // into other tests).
    std::vector<int> left = OwnedProcesses();
    EXPECT_TRUE(left.empty()) << "processes left running after runnel down: "
                              << absl::StrJoin(left, ",");
    for (int pid : left) ::kill(pid, SIGKILL);
  }

  // Live processes started by this home's control plane(s): those whose environment carries
  // the control plane's marker (cli/control_plane.h).
  std::vector<int> OwnedProcesses() const {
    const std::string marker = "RUNNEL_CONTROL_PLANE_HOME=" + home();
    std::vector<int> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return out;
    while (dirent* entry = ::readdir(proc)) {
      int pid = std::atoi(entry->d_name);
      if (pid <= 0) continue;
      std::ifstream in(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
      std::string environ_text((std::istreambuf_iterator<char>(in)), {});
      for (absl::string_view var : absl::StrSplit(environ_text, '\0')) {
        if (var == marker && Alive(pid)) {
          out.push_back(pid);
          break;
        }
      }
    }
    ::closedir(proc);
    return out;
  }

  // Running (not gone, not a zombie).
  static bool Alive(int pid) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)), {});
    size_t close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
           stat[close + 2] != 'X';
  }

  // A file under the state directory ("" if missing).
  std::string Log(const std::string& relative) const {
    std::ifstream in(home() + "/" + relative);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

  // The running control plane's pid (0 if none wrote its pid file).
  int ControlPlanePid() const {
    std::ifstream in(home() + "/control-plane.pid");
    int pid = 0;
    in >> pid;
    return pid;
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
