#include "sdk/cpp/src/input_buffer.h"

#include <gtest/gtest.h>

namespace runnel::sdk::internal {
namespace {

Message M(std::string p) { return Message{.payload = std::move(p), .content_type = "", .headers = {}}; }

TEST(InputBuffer, PausesAtSoftLimitWhenConsumerIsBusy) {
  InputBuffer b(1, 2, 10);
  EXPECT_EQ(b.NextRead(false), InputBuffer::Reading::kRead);
  b.Push(0, M("a"));
  EXPECT_EQ(b.NextRead(false), InputBuffer::Reading::kRead);
  b.Push(0, M("b"));
  EXPECT_EQ(b.NextRead(false), InputBuffer::Reading::kPause);
  ASSERT_TRUE(b.Pop(0).has_value());
  EXPECT_EQ(b.NextRead(false), InputBuffer::Reading::kRead);
}

TEST(InputBuffer, ReadsPastSoftLimitWhileConsumerStarvesUpToHardLimit) {
  InputBuffer b(2, 1, 3);
  b.Push(0, M("a"));
  EXPECT_EQ(b.NextRead(true), InputBuffer::Reading::kRead);
  b.Push(0, M("b"));
  b.Push(0, M("c"));
  EXPECT_EQ(b.NextRead(true), InputBuffer::Reading::kOverflow);
  EXPECT_EQ(b.NextRead(false), InputBuffer::Reading::kPause);
  EXPECT_FALSE(b.Pop(1).has_value());
}

TEST(InputBuffer, PopAnyReturnsArrivalOrderAcrossInputs) {
  InputBuffer b(2, 10, 10);
  b.Push(1, M("x"));
  b.Push(0, M("y"));
  b.Push(1, M("z"));
  std::optional<InputMessage> m = b.PopAny();
  EXPECT_EQ(m->input, 1);
  EXPECT_EQ(m->message.payload, "x");
  EXPECT_EQ(b.PopAny()->message.payload, "y");
  EXPECT_EQ(b.Pop(1)->payload, "z");
  EXPECT_FALSE(b.PopAny().has_value());
  EXPECT_EQ(b.size(), 0u);
}

}  // namespace
}  // namespace runnel::sdk::internal
