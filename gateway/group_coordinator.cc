#include "gateway/group_coordinator.h"

#include <algorithm>
#include <utility>

namespace runnel::gateway {

// Serializes one member's assignment callbacks: changes are queued under the coordinator's lock
// and run, in order and one at a time, by whichever thread drains the queue first.
class Delivery {
 public:
  explicit Delivery(RecordStore::AssignmentCallback on_change) : on_change_(std::move(on_change)) {}

  void Enqueue(AssignmentChange change) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(change));
  }

  void Drain() {
    absl::MutexLock lock(&mu_);
    if (draining_) {
      return;  // The thread already draining will run what we queued.
    }
    draining_ = true;
    while (!queue_.empty() && !closed_) {
      AssignmentChange change = std::move(queue_.front());
      queue_.pop_front();
      mu_.Unlock();
      on_change_(std::move(change));
      mu_.Lock();
    }
    draining_ = false;
  }

  // After Close() returns no callback is running or will run.
  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    mu_.Await(absl::Condition(+[](bool* d) { return !*d; }, &draining_));
  }

 private:
  RecordStore::AssignmentCallback on_change_;
  absl::Mutex mu_;
  std::deque<AssignmentChange> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

LocalGroupCoordinator::Member::Member(LocalGroupCoordinator* coordinator, Key key,
                                      RecordStore::AssignmentCallback on_change)
    : coordinator_(coordinator),
      key_(std::move(key)),
      delivery_(std::make_shared<Delivery>(std::move(on_change))) {}

LocalGroupCoordinator::Member::~Member() {
  delivery_->Close();
  coordinator_->Leave(this);
}

std::unique_ptr<LocalGroupCoordinator::Member> LocalGroupCoordinator::Join(
    std::string stream, GroupId group, int32_t partitions,
    RecordStore::AssignmentCallback on_change) {
  Key key{std::move(stream), std::move(group.name), group.version};
  std::unique_ptr<Member> member(new Member(this, key, std::move(on_change)));
  std::vector<std::shared_ptr<Delivery>> to_run;
  {
    absl::MutexLock lock(&mu_);
    Group& g = groups_[key];
    g.partitions = partitions;
    g.members.push_back(member.get());
    RebalanceLocked(g, to_run);
  }
  for (auto& d : to_run) {
    d->Drain();
  }
  return member;
}

std::vector<Partition> LocalGroupCoordinator::AssignedTo(const Member& member) {
  absl::MutexLock lock(&mu_);
  return member.assigned_;
}

void LocalGroupCoordinator::Leave(Member* member) {
  std::vector<std::shared_ptr<Delivery>> to_run;
  {
    absl::MutexLock lock(&mu_);
    auto it = groups_.find(member->key_);
    if (it == groups_.end()) {
      return;
    }
    std::erase(it->second.members, member);
    if (it->second.members.empty()) {
      groups_.erase(it);
    } else {
      RebalanceLocked(it->second, to_run);
    }
  }
  for (auto& d : to_run) {
    d->Drain();
  }
}

void LocalGroupCoordinator::RebalanceLocked(Group& group,
                                            std::vector<std::shared_ptr<Delivery>>& to_run) {
  const int n = static_cast<int>(group.members.size());
  for (int i = 0; i < n; ++i) {
    Member* m = group.members[i];
    std::vector<Partition> wanted;
    for (Partition p = i; p < group.partitions; p += n) {
      wanted.push_back(p);
    }
    AssignmentChange change;
    std::set_difference(m->assigned_.begin(), m->assigned_.end(), wanted.begin(), wanted.end(),
                        std::back_inserter(change.revoked));
    std::set_difference(wanted.begin(), wanted.end(), m->assigned_.begin(), m->assigned_.end(),
                        std::back_inserter(change.assigned));
    // A newly joined member hears of its (possibly empty) assignment at least once.
    const bool first = m->assigned_.empty() && !m->delivered_first_;
    if (change.revoked.empty() && change.assigned.empty() && !first) {
      continue;
    }
    m->delivered_first_ = true;
    m->assigned_ = std::move(wanted);
    m->delivery_->Enqueue(std::move(change));
    to_run.push_back(m->delivery_);
  }
}

}  // namespace runnel::gateway
