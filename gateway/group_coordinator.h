#pragma once
// Consumer-group membership for stores whose partitions live in this process (memory, file):
// the members of a (stream, group) share its partitions round-robin in join order (member i of
// n owns every partition p with p % n == i), rebalanced whenever a member joins or leaves.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gateway/record_store.h"

namespace runnel::gateway {

// Thread-safe. Assignment callbacks run with no coordinator lock held, one at a time per
// member, on the thread that caused the change (a Join or a member's destruction).
class LocalGroupCoordinator {
 public:
  class Member;

  // Adds a member to `group` on `stream` (which has `partitions` partitions) and delivers the
  // resulting assignments, the new member's included, before returning.
  std::unique_ptr<Member> Join(std::string stream, GroupId group, int32_t partitions,
                               RecordStore::AssignmentCallback on_change);

  // Partitions currently assigned to `member`.
  std::vector<Partition> AssignedTo(const Member& member);

 private:
  using Key = std::tuple<std::string, std::string, uint32_t>;
  struct Group {
    int32_t partitions = 0;
    std::vector<Member*> members;  // In join order.
  };

  void Leave(Member* member);
  // Recomputes `group`'s assignment and queues each member's change. REQUIRES: mu_ held.
  void RebalanceLocked(Group& group, std::vector<std::shared_ptr<class Delivery>>& to_run)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<Key, Group> groups_ ABSL_GUARDED_BY(mu_);
};

// One member's place in a group; leaving is destruction.
class LocalGroupCoordinator::Member {
 public:
  ~Member();
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

 private:
  friend class LocalGroupCoordinator;
  Member(LocalGroupCoordinator* coordinator, Key key, RecordStore::AssignmentCallback on_change);

  LocalGroupCoordinator* const coordinator_;
  const Key key_;
  std::vector<Partition> assigned_;  // Guarded by coordinator_->mu_.
  bool delivered_first_ = false;     // Guarded by coordinator_->mu_.
  std::shared_ptr<class Delivery> delivery_;
};

}  // namespace runnel::gateway
