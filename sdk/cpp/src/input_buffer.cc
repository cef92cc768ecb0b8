#include "sdk/cpp/src/input_buffer.h"

#include <utility>

namespace runnel::sdk::internal {

InputBuffer::InputBuffer(int inputs, size_t soft_limit, size_t hard_limit)
    : queues_(inputs < 0 ? 0 : inputs),
      soft_limit_(soft_limit < 1 ? 1 : soft_limit),
      hard_limit_(hard_limit < soft_limit_ ? soft_limit_ : hard_limit) {}

void InputBuffer::Push(int index, Message message) {
  queues_[index].push_back(Entry{next_seq_++, std::move(message)});
  ++size_;
}

std::optional<Message> InputBuffer::Pop(int index) {
  std::deque<Entry>& q = queues_[index];
  if (q.empty()) {
    return std::nullopt;
  }
  Message m = std::move(q.front().message);
  q.pop_front();
  --size_;
  return m;
}

std::optional<InputMessage> InputBuffer::PopAny() {
  int best = -1;
  for (int i = 0; i < static_cast<int>(queues_.size()); ++i) {
    if (!queues_[i].empty() && (best < 0 || queues_[i].front().seq < queues_[best].front().seq)) {
      best = i;
    }
  }
  if (best < 0) {
    return std::nullopt;
  }
  return InputMessage{.input = best, .message = *Pop(best)};
}

InputBuffer::Reading InputBuffer::NextRead(bool consumer_starving) const {
  if (size_ < soft_limit_) {
    return Reading::kRead;
  }
  if (!consumer_starving) {
    return Reading::kPause;
  }
  return size_ < hard_limit_ ? Reading::kRead : Reading::kOverflow;
}

}  // namespace runnel::sdk::internal
