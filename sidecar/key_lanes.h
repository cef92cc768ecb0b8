#pragma once
// KeyLanes: the order in which records may go out as independent unary calls (liiklus Publish)
// when calls in flight can overtake each other. Records with the same key land in the same
// partition, so they go one at a time, in order; records with different keys go in parallel,
// at most `max_in_flight` at once. Keyless records (empty key) share one lane, since the
// gateway may put them all in one partition. Records of different keys that share a partition
// may interleave differently than queued: the order each key (and keyless) sees is kept.
// Pure: no threads, no I/O; the caller locks.

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace runnel::sidecar {

template <typename T>
class KeyLanes {
 public:
  explicit KeyLanes(size_t max_in_flight) : max_in_flight_(max_in_flight > 0 ? max_in_flight : 1) {}

  // Queues `item` behind everything of `key`.
  void Push(const std::string& key, T item) {
    Lane& lane = lanes_[key];
    lane.items.push_back(std::move(item));
    ++queued_;
    if (!lane.busy && lane.items.size() == 1) ready_.push_back(key);
  }

  // The next item to send, with its key, or nothing when `max_in_flight` are in flight or every
  // lane with items has one in flight. The item is in flight until Done(key).
  std::optional<std::pair<std::string, T>> Next() {
    if (in_flight_ >= max_in_flight_ || ready_.empty()) return std::nullopt;
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    Lane& lane = lanes_[key];
    T item = std::move(lane.items.front());
    lane.items.pop_front();
    lane.busy = true;
    --queued_;
    ++in_flight_;
    return std::make_pair(std::move(key), std::move(item));
  }

  // Ends the call in flight for `key`; `resend` goes back to the front of its lane (sent again
  // before anything queued behind it).
  void Done(const std::string& key, std::optional<T> resend = std::nullopt) {
    auto it = lanes_.find(key);
    if (it == lanes_.end() || !it->second.busy) return;
    Lane& lane = it->second;
    lane.busy = false;
    --in_flight_;
    if (resend) {
      lane.items.push_front(*std::move(resend));
      ++queued_;
    }
    if (lane.items.empty()) {
      lanes_.erase(it);
    } else {
      ready_.push_back(key);
    }
  }

  // Takes every queued item out (not those in flight), lane by lane.
  std::deque<T> TakeQueued() {
    std::deque<T> out;
    for (auto it = lanes_.begin(); it != lanes_.end();) {
      for (T& item : it->second.items) out.push_back(std::move(item));
      it->second.items.clear();
      it = it->second.busy ? std::next(it) : lanes_.erase(it);
    }
    ready_.clear();
    queued_ = 0;
    return out;
  }

  size_t queued() const { return queued_; }
  size_t in_flight() const { return in_flight_; }
  bool can_send() const { return in_flight_ < max_in_flight_ && !ready_.empty(); }

 private:
  struct Lane {
    std::deque<T> items;
    bool busy = false;  // A call of this key is in flight.
  };
  const size_t max_in_flight_;
  std::map<std::string, Lane> lanes_;  // Only lanes with items or a call in flight.
  std::deque<std::string> ready_;      // Lanes with items and no call in flight, oldest first.
  size_t queued_ = 0;
  size_t in_flight_ = 0;
};

}  // namespace runnel::sidecar
