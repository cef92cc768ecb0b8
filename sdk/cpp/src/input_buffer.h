#pragma once
// The buffered inputs of one invocation and the backpressure rule, as a pure class (no threads,
// no I/O) so the rule is unit-tested directly. The owner (a transport's call state) guards it.
//
// Rule: the transport keeps reading from the caller while fewer than `soft_limit` messages are
// buffered. Above it, it pauses (withholds the next read) — unless the function is blocked
// waiting on an input whose buffer is empty: pausing then would deadlock (the message it waits
// for may be behind the ones already buffered for another input), so reading continues up to
// `hard_limit`, where the invocation fails instead.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "runnel/sdk/function.h"
#include "runnel/sdk/message.h"

namespace runnel::sdk::internal {

class InputBuffer {
 public:
  enum class Reading { kRead, kPause, kOverflow };

  InputBuffer(int inputs, size_t soft_limit, size_t hard_limit);

  // REQUIRES: 0 <= index < inputs.
  void Push(int index, Message message);
  std::optional<Message> Pop(int index);
  // The oldest buffered message of any input.
  std::optional<InputMessage> PopAny();

  size_t size() const { return size_; }
  // Whether to issue the next read, given whether the consumer waits on an empty input.
  Reading NextRead(bool consumer_starving) const;

 private:
  struct Entry {
    uint64_t seq;
    Message message;
  };
  std::vector<std::deque<Entry>> queues_;
  size_t soft_limit_;
  size_t hard_limit_;
  size_t size_ = 0;
  uint64_t next_seq_ = 0;
};

}  // namespace runnel::sdk::internal
