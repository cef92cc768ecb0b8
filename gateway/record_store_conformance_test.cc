// One behavioural suite that every RecordStore implementation passes: ordering, offsets,
// atomicity, readers that wait, retention bounds, groups and positions, and error codes.
// Stores register themselves below with INSTANTIATE_TEST_SUITE_P.

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/message_differencer.h"
#include "gateway/record_store.h"
#include "gateway/record_store_conformance.h"
#include "gateway/testing/store_test_util.h"

namespace runnel::gateway {
namespace {

using ::runnel::gateway::testing::AppendOne;
using ::runnel::gateway::testing::AppendSync;
using ::runnel::gateway::testing::CommitSync;
using ::runnel::gateway::testing::MakeRecord;
using ::runnel::gateway::testing::NextBatchSync;
using ::runnel::gateway::testing::NextSync;
using ::runnel::gateway::testing::ReadBatchesN;
using ::runnel::gateway::testing::ReadN;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class RecordStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("runnel-conformance-", ::getpid(), "-", counter_++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = GetParam().open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Reopens the store on the same directory, for stores that persist.
  void Reopen() {
    store_.reset();
    auto store = GetParam().open(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Stream names unique per test, so stores shared across tests (a Kafka broker) stay apart.
  std::string Name(absl::string_view base) {
    return absl::StrCat(base, "-", ::getpid(), "-", counter_++);
  }

  StreamSpec Create(absl::string_view base, int32_t partitions = 1,
                    std::string content_type = "text/plain") {
    StreamSpec spec{.name = Name(base), .partitions = partitions, .content_type = content_type};
    auto created = store_->CreateStream(spec);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : spec;
  }

  static inline std::atomic<int> counter_{0};
  std::filesystem::path dir_;
  std::unique_ptr<RecordStore> store_;
};

TEST_P(RecordStoreConformance, CreateGetListDelete) {
  StreamSpec a = Create("alpha", 3, "application/json");
  EXPECT_EQ(a.partitions, 3);
  EXPECT_EQ(a.content_type, "application/json");
  EXPECT_GT(a.created_unix_ms, 0);

  auto got = store_->GetStream(a.name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->partitions, 3);
  EXPECT_EQ(got->content_type, "application/json");

  bool listed = false;
  for (const StreamSpec& s : store_->ListStreams()) listed |= s.name == a.name;
  EXPECT_TRUE(listed);

  EXPECT_TRUE(store_->DeleteStream(a.name).ok());
  EXPECT_EQ(store_->GetStream(a.name).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteStream(a.name).code(), absl::StatusCode::kNotFound);
}

TEST_P(RecordStoreConformance, CreateRejectsDuplicatesAndBadSpecs) {
  StreamSpec a = Create("dup");
  EXPECT_EQ(store_->CreateStream(a).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateStream({.name = "bad/name"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateStream({.name = ".."}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateStream({.name = Name("p0"), .partitions = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CreateStream({.name = Name("ct"), .content_type = "json"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(RecordStoreConformance, AppendAssignsConsecutiveOffsetsFromZero) {
  StreamSpec s = Create("offsets");
  EXPECT_EQ(*AppendOne(*store_, s.name, 0, "a"), 0);
  std::vector<v1::Record> batch;
  batch.push_back(MakeRecord("b"));
  batch.push_back(MakeRecord("c"));
  batch.push_back(MakeRecord("d"));
  EXPECT_EQ(*AppendSync(*store_, s.name, 0, std::move(batch)), 1);
  EXPECT_EQ(*AppendOne(*store_, s.name, 0, "e"), 4);
  auto bounds = store_->GetBounds(s.name, 0);
  ASSERT_TRUE(bounds.ok()) << bounds.status();
  EXPECT_EQ(bounds->start, 0);
  EXPECT_EQ(bounds->end, 5);
}

TEST_P(RecordStoreConformance, ReadsBackEverythingInOrderWithAttributes) {
  StreamSpec s = Create("roundtrip");
  v1::Record r = MakeRecord("payload", "key-1");
  (*r.mutable_extensions())["traceparent"] = "00-abc";
  r.set_time("2026-11-23T12:00:00Z");
  std::vector<v1::Record> records{r};
  ASSERT_TRUE(AppendSync(*store_, s.name, 0, records).ok());
  for (int i = 0; i < 99; ++i) ASSERT_TRUE(AppendOne(*store_, s.name, 0, absl::StrCat(i)).ok());

  auto reader = store_->OpenReader(s.name, 0, StartAt::Earliest());
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto got = ReadN(**reader, 100);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].offset, 0);
  EXPECT_EQ((*got)[0].record.data(), "payload");
  EXPECT_EQ((*got)[0].record.key(), "key-1");
  EXPECT_EQ((*got)[0].record.extensions().at("traceparent"), "00-abc");
  EXPECT_EQ((*got)[0].record.time(), "2026-11-23T12:00:00Z");
  EXPECT_GT((*got)[0].record.timestamp_ms(), 0);
  for (int i = 1; i < 100; ++i) {
    EXPECT_EQ((*got)[i].offset, i);
    EXPECT_EQ((*got)[i].record.data(), absl::StrCat(i - 1));
  }
}

TEST_P(RecordStoreConformance, NextBatchDeliversWhatNextDelivers) {
  StreamSpec s = Create("batchviews");
  std::vector<v1::Record> records;
  v1::Record event = MakeRecord("event", "key-1");
  (*event.mutable_extensions())["traceparent"] = "00-abc";
  (*event.mutable_extensions())["tenant"] = "";
  event.set_time("2026-11-23T12:00:00Z");
  records.push_back(event);
  v1::Record raw;  // No id: raw bytes, as liiklus's `value`.
  raw.set_data("raw");
  records.push_back(raw);
  records.push_back(v1::Record());  // Nothing at all.
  ASSERT_TRUE(AppendSync(*store_, s.name, 0, records).ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(AppendOne(*store_, s.name, 0, std::string(i, 'x')).ok());
  }

  auto by_next = store_->OpenReader(s.name, 0, StartAt::Earliest());
  auto by_batch = store_->OpenReader(s.name, 0, StartAt::Earliest());
  ASSERT_TRUE(by_next.ok() && by_batch.ok());
  auto want = ReadN(**by_next, 203);
  auto got = ReadBatchesN(**by_batch, 203);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t i = 0; i < 203; ++i) {
    EXPECT_EQ((*got)[i].offset, static_cast<Offset>(i));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*got)[i].record,
                                                                   (*want)[i].record))
        << "offset " << i << ": " << (*got)[i].record.DebugString() << " vs "
        << (*want)[i].record.DebugString();
  }
  EXPECT_EQ((*got)[0].record.extensions().at("traceparent"), "00-abc");
  EXPECT_TRUE((*got)[1].record.id().empty());
}

TEST_P(RecordStoreConformance, NextBatchWaitsForAppendsAndRespectsItsLimits) {
  StreamSpec s = Create("batchtail");
  auto reader = store_->OpenReader(s.name, 0, StartAt::Latest());
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecordBatch>>>();
  auto future = promise->get_future();
  (*reader)->NextBatch(10, 1 << 20, [promise](auto r) { promise->set_value(std::move(r)); });
  EXPECT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  ASSERT_TRUE(AppendOne(*store_, s.name, 0, "late").ok());
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto got = future.get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->records()[0].data, "late");
  EXPECT_EQ(got->records()[0].offset, 0);

  // Then at most max_records per batch, and a byte budget that still lets one record through.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(AppendOne(*store_, s.name, 0, "0123456789").ok());
  auto four = NextBatchSync(**reader, absl::Seconds(20), 4);
  ASSERT_TRUE(four.ok()) << four.status();
  EXPECT_GE(four->size(), 1u);
  EXPECT_LE(four->size(), 4u);
  EXPECT_EQ((*four)[0].offset, 1);
  auto one = NextBatchSync(**reader, absl::Seconds(20), 10, /*max_bytes=*/1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].offset, 1 + static_cast<Offset>(four->size()));
}

TEST_P(RecordStoreConformance, ReaderWaitsForAppends) {
  StreamSpec s = Create("tail");
  auto reader = store_->OpenReader(s.name, 0, StartAt::Latest());
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
  auto future = promise->get_future();
  (*reader)->Next(10, 1 << 20, [promise](auto r) { promise->set_value(std::move(r)); });
  EXPECT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  ASSERT_TRUE(AppendOne(*store_, s.name, 0, "late").ok());
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto got = future.get();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].record.data(), "late");
}

TEST_P(RecordStoreConformance, LatestSkipsExistingRecordsAndOffsetStartsThere) {
  StreamSpec s = Create("latest");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(AppendOne(*store_, s.name, 0, absl::StrCat(i)).ok());
  auto latest = store_->OpenReader(s.name, 0, StartAt::Latest());
  auto at3 = store_->OpenReader(s.name, 0, StartAt::At(3));
  ASSERT_TRUE(latest.ok() && at3.ok());
  ASSERT_TRUE(AppendOne(*store_, s.name, 0, "5").ok());
  auto got = ReadN(**latest, 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].offset, 5);
  got = ReadN(**at3, 3);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].offset, 3);
  EXPECT_EQ((*got)[2].offset, 5);
}

TEST_P(RecordStoreConformance, OffsetBeyondEndIsOutOfRange) {
  StreamSpec s = Create("beyond");
  ASSERT_TRUE(AppendOne(*store_, s.name, 0, "x").ok());
  auto reader = store_->OpenReader(s.name, 0, StartAt::At(7));
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kOutOfRange);
}

TEST_P(RecordStoreConformance, UnknownStreamOrPartitionIsNotFound) {
  StreamSpec s = Create("known", 2);
  EXPECT_EQ(AppendOne(*store_, Name("unknown"), 0, "x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(AppendOne(*store_, s.name, 2, "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(AppendOne(*store_, s.name, -1, "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->OpenReader(s.name, 5, StartAt::Earliest()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetBounds(Name("unknown"), 0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->JoinGroup(Name("unknown"), {"g", 0}, [](AssignmentChange) {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(RecordStoreConformance, PartitionsAreIndependent) {
  StreamSpec s = Create("parts", 3);
  ASSERT_EQ(*AppendOne(*store_, s.name, 0, "a0"), 0);
  ASSERT_EQ(*AppendOne(*store_, s.name, 2, "c0"), 0);
  ASSERT_EQ(*AppendOne(*store_, s.name, 2, "c1"), 1);
  EXPECT_EQ(store_->GetBounds(s.name, 1)->end, 0);
  EXPECT_EQ(store_->GetBounds(s.name, 2)->end, 2);
  auto reader = store_->OpenReader(s.name, 2, StartAt::Earliest());
  auto got = ReadN(**reader, 2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[1].record.data(), "c1");
}

TEST_P(RecordStoreConformance, ConcurrentAppendsKeepEveryRecordOnce) {
  StreamSpec s = Create("concurrent");
  constexpr int kThreads = 4, kPerThread = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        ASSERT_TRUE(AppendOne(*store_, s.name, 0, absl::StrCat(t, ":", i)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto reader = store_->OpenReader(s.name, 0, StartAt::Earliest());
  auto got = ReadN(**reader, kThreads * kPerThread);
  ASSERT_TRUE(got.ok()) << got.status();
  std::set<std::string> seen;
  std::map<int, int> last_per_thread;
  for (const auto& r : *got) {
    EXPECT_TRUE(seen.insert(r.record.data()).second) << "duplicate " << r.record.data();
    const auto colon = r.record.data().find(':');
    const int t = std::stoi(r.record.data().substr(0, colon));
    const int i = std::stoi(r.record.data().substr(colon + 1));
    if (last_per_thread.contains(t)) {
      EXPECT_GT(i, last_per_thread[t]);
    }
    last_per_thread[t] = i;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_P(RecordStoreConformance, BatchesRespectMaxRecords) {
  StreamSpec s = Create("batches");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(AppendOne(*store_, s.name, 0, "x").ok());
  auto reader = store_->OpenReader(s.name, 0, StartAt::Earliest());
  auto got = NextSync(**reader, absl::Seconds(20), 4);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GE(got->size(), 1u);
  EXPECT_LE(got->size(), 4u);
}

TEST_P(RecordStoreConformance, GroupMembersSplitPartitionsAndRebalance) {
  StreamSpec s = Create("group", 4);
  absl::Mutex mu;
  std::set<Partition> a, b;
  auto track = [&mu](std::set<Partition>* owned) {
    return [&mu, owned](AssignmentChange c) {
      absl::MutexLock lock(&mu);
      for (Partition p : c.revoked) owned->erase(p);
      for (Partition p : c.assigned) owned->insert(p);
    };
  };
  auto m1 = store_->JoinGroup(s.name, {"g", 0}, track(&a));
  ASSERT_TRUE(m1.ok()) << m1.status();
  auto wait_for = [&](std::function<bool()> pred) {
    for (int i = 0; i < 200; ++i) {
      {
        absl::MutexLock lock(&mu);
        if (pred()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_TRUE(wait_for([&] { return a.size() == 4; }));
  auto m2 = store_->JoinGroup(s.name, {"g", 0}, track(&b));
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_TRUE(wait_for([&] {
    std::set<Partition> all = a;
    all.insert(b.begin(), b.end());
    return a.size() == 2 && b.size() == 2 && all.size() == 4;
  }));
  m2->reset();
  EXPECT_TRUE(wait_for([&] { return a.size() == 4; }));
}

TEST_P(RecordStoreConformance, DifferentGroupsEachGetEveryPartition) {
  StreamSpec s = Create("groups", 2);
  std::atomic<int> a{0}, b{0};
  auto m1 = store_->JoinGroup(s.name, {"one", 0},
                              [&](AssignmentChange c) { a += static_cast<int>(c.assigned.size()); });
  auto m2 = store_->JoinGroup(s.name, {"two", 0},
                              [&](AssignmentChange c) { b += static_cast<int>(c.assigned.size()); });
  ASSERT_TRUE(m1.ok() && m2.ok());
  for (int i = 0; i < 200 && (a < 2 || b < 2); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(a.load(), 2);
  EXPECT_EQ(b.load(), 2);
}

TEST_P(RecordStoreConformance, PositionsAreStoredPerGroupVersionAndPartition) {
  StreamSpec s = Create("positions", 2);
  ASSERT_TRUE(CommitSync(*store_, s.name, {"g", 0}, 0, 7).ok());
  ASSERT_TRUE(CommitSync(*store_, s.name, {"g", 0}, 1, 3).ok());
  ASSERT_TRUE(CommitSync(*store_, s.name, {"g", 2}, 0, 11).ok());
  ASSERT_TRUE(CommitSync(*store_, s.name, {"other", 0}, 0, 1).ok());
  // A lower offset rewinds, as liiklus does.
  ASSERT_TRUE(CommitSync(*store_, s.name, {"g", 0}, 1, 2).ok());
  auto positions = store_->GetPositions(s.name, "g");
  ASSERT_TRUE(positions.ok()) << positions.status();
  EXPECT_EQ((*positions)[0][0], 7);
  EXPECT_EQ((*positions)[0][1], 2);
  EXPECT_EQ((*positions)[2][0], 11);
  EXPECT_EQ(positions->size(), 2u);
  EXPECT_THAT(*store_->GetPositions(s.name, "nobody"), IsEmpty());
  EXPECT_EQ(CommitSync(*store_, s.name, {"g", 0}, 9, 1).code(), absl::StatusCode::kNotFound);
}

TEST_P(RecordStoreConformance, DeletedStreamFailsWaitingReaders) {
  StreamSpec s = Create("deleted");
  auto reader = store_->OpenReader(s.name, 0, StartAt::Latest());
  ASSERT_TRUE(reader.ok());
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
  auto future = promise->get_future();
  (*reader)->Next(10, 1 << 20, [promise](auto r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(store_->DeleteStream(s.name).ok());
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kNotFound);
}

TEST_P(RecordStoreConformance, DeletedStreamFailsWaitingBatchReaders) {
  StreamSpec s = Create("deletedbatch");
  auto reader = store_->OpenReader(s.name, 0, StartAt::Latest());
  ASSERT_TRUE(reader.ok());
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecordBatch>>>();
  auto future = promise->get_future();
  (*reader)->NextBatch(10, 1 << 20, [promise](auto r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(store_->DeleteStream(s.name).ok());
  ASSERT_EQ(future.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kNotFound);
}

TEST_P(RecordStoreConformance, DestroyingAWaitingReaderDropsItsCallback) {
  StreamSpec s = Create("cancel");
  std::atomic<bool> called{false};
  {
    auto reader = store_->OpenReader(s.name, 0, StartAt::Latest());
    ASSERT_TRUE(reader.ok());
    (*reader)->Next(10, 1 << 20, [&](auto) { called = true; });
  }
  ASSERT_TRUE(AppendOne(*store_, s.name, 0, "after").ok());
  EXPECT_FALSE(called.load());
}

TEST_P(RecordStoreConformance, DurableStoresKeepRecordsStreamsAndPositionsAcrossReopen) {
  if (!GetParam().durable) GTEST_SKIP() << GetParam().name << " is not durable";
  StreamSpec s = Create("durable", 2, "application/json");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(AppendOne(*store_, s.name, 1, absl::StrCat(i)).ok());
  ASSERT_TRUE(CommitSync(*store_, s.name, {"g", 0}, 1, 4).ok());
  Reopen();
  auto got_spec = store_->GetStream(s.name);
  ASSERT_TRUE(got_spec.ok()) << got_spec.status();
  EXPECT_EQ(got_spec->partitions, 2);
  EXPECT_EQ(got_spec->content_type, "application/json");
  EXPECT_EQ(store_->GetBounds(s.name, 1)->end, 10);
  EXPECT_EQ((*store_->GetPositions(s.name, "g"))[0][1], 4);
  auto reader = store_->OpenReader(s.name, 1, StartAt::At(5));
  auto got = ReadN(**reader, 5);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].record.data(), "5");
  EXPECT_EQ(*AppendOne(*store_, s.name, 1, "10"), 10);
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Stores, RecordStoreConformance, ::testing::ValuesIn(AllStoreFactories()),
                         [](const auto& info) { return info.param.name; });

}  // namespace runnel::gateway
