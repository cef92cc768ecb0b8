#include "common/process.h"

#include <csignal>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

namespace runnel {
namespace {

TEST(CurrentEnvironment, SeesVariablesSetInThisProcess) {
  ASSERT_EQ(setenv("RUNNEL_PROCESS_TEST", "a=b", 1), 0);
  const auto env = CurrentEnvironment();
  ASSERT_TRUE(env.count("RUNNEL_PROCESS_TEST"));
  EXPECT_EQ(env.at("RUNNEL_PROCESS_TEST"), "a=b");  // Only the first '=' separates.
  unsetenv("RUNNEL_PROCESS_TEST");
  EXPECT_EQ(CurrentEnvironment().count("RUNNEL_PROCESS_TEST"), 0u);
}

TEST(StopSignals, WaitReturnsTheSignalSentToTheProcess) {
  const StopSignals stop;  // Blocked here, so the signal stays pending instead of killing us.
  std::thread sender([] { kill(getpid(), SIGTERM); });
  EXPECT_STREQ(stop.Wait(), "SIGTERM");
  sender.join();
  std::thread again([] { kill(getpid(), SIGINT); });
  EXPECT_STREQ(stop.Wait(), "SIGINT");
  again.join();
}

}  // namespace
}  // namespace runnel
