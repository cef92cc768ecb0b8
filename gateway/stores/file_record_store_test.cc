// Tests of what is particular to the file log: its files, recovery, retention and fsync
// policies. The behaviour every store shares is in record_store_conformance_test.cc.

#include "gateway/stores/file_record_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "gateway/testing/store_test_util.h"

namespace runnel::gateway {
namespace {

namespace fs = std::filesystem;
using ::runnel::gateway::testing::AppendOne;
using ::runnel::gateway::testing::AppendSync;
using ::runnel::gateway::testing::CommitSync;
using ::runnel::gateway::testing::MakeRecord;
using ::runnel::gateway::testing::NextSync;
using ::runnel::gateway::testing::ReadN;
using ::testing::HasSubstr;
using Fsync = RecordStoreOptions::File::Fsync;

class FileRecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("runnel-file-store-", ::getpid(), "-", counter_++);
    fs::remove_all(dir_);
    options_.data_dir = dir_.string();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  void Open() {
    store_.reset();
    auto store = OpenFileRecordStore(options_, &clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void Close() { store_.reset(); }

  void CreateStream(int32_t partitions = 1) {
    auto created = store_->CreateStream({.name = "s", .partitions = partitions});
    ASSERT_TRUE(created.ok()) << created.status();
  }

  fs::path PartitionDir(int p = 0) const { return dir_ / "streams" / "s" / absl::StrCat(p); }

  std::vector<fs::path> Segments(int p = 0) const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(PartitionDir(p))) {
      if (e.path().extension() == ".log") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  PartitionBounds Bounds(int p = 0) {
    auto b = store_->GetBounds("s", p);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : PartitionBounds{-1, -1};
  }

  // Appends one record per call and returns the segment file size after each (the batch
  // boundaries), for tests that damage the file at a known place.
  std::vector<uint64_t> AppendEach(int n, size_t data_bytes = 20) {
    std::vector<uint64_t> ends;
    for (int i = 0; i < n; ++i) {
      std::string data = absl::StrCat(i, ":", std::string(data_bytes, 'x'));
      auto offset = AppendOne(*store_, "s", 0, data);
      EXPECT_TRUE(offset.ok()) << offset.status();
      ends.push_back(fs::file_size(Segments().back()));
    }
    return ends;
  }

  std::vector<StoredRecord> ReadAll(Offset from, size_t count) {
    auto reader = store_->OpenReader("s", 0, StartAt::At(from));
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return {};
    auto got = ReadN(**reader, count, absl::Seconds(10));
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok() ? *got : std::vector<StoredRecord>{};
  }

  static void Flip(const fs::path& file, uint64_t at) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  static void AppendBytes(const fs::path& file, const std::string& bytes) {
    std::ofstream f(file, std::ios::app | std::ios::binary);
    f << bytes;
  }
  static std::string ReadBytes(const fs::path& file, uint64_t from, uint64_t to) {
    std::ifstream f(file, std::ios::binary);
    std::string out(to - from, '\0');
    f.seekg(static_cast<std::streamoff>(from));
    f.read(out.data(), static_cast<std::streamsize>(out.size()));
    return out;
  }

  // Waits (bounded) for `pred`, which the retention thread makes true in the background.
  template <typename Pred>
  bool Eventually(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
  }

  static inline std::atomic<int> counter_{0};
  fs::path dir_;
  RecordStoreOptions::File options_;
  FakeClock clock_;
  std::unique_ptr<RecordStore> store_;
};

TEST_F(FileRecordStoreTest, AppendsAndReadsBackWithLayoutOnDisk) {
  Open();
  CreateStream(2);
  std::vector<v1::Record> batch{MakeRecord("a", "k"), MakeRecord("b"), MakeRecord("c")};
  ASSERT_EQ(*AppendSync(*store_, "s", 1, batch), 0);
  ASSERT_EQ(*AppendOne(*store_, "s", 1, "d"), 3);
  auto got = [&] {
    auto reader = store_->OpenReader("s", 1, StartAt::At(1));
    return *ReadN(**reader, 3);
  }();
  EXPECT_EQ(got[0].offset, 1);
  EXPECT_EQ(got[0].record.data(), "b");
  EXPECT_EQ(got[2].record.data(), "d");
  EXPECT_EQ(got[2].record.timestamp_ms(), absl::ToUnixMillis(clock_.Now()));
  EXPECT_TRUE(fs::exists(dir_ / "streams" / "s" / "stream.meta"));
  EXPECT_TRUE(fs::exists(PartitionDir(1) / "00000000000000000000.log"));
  EXPECT_TRUE(fs::exists(PartitionDir(1) / "00000000000000000000.index"));
  EXPECT_EQ(Bounds(0).end, 0);
}

TEST_F(FileRecordStoreTest, RejectsBadOptionsAndASecondOpenOfTheSameDirectory) {
  RecordStoreOptions::File bad = options_;
  bad.segment_bytes = 10;
  EXPECT_EQ(OpenFileRecordStore(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.data_dir = "";
  EXPECT_EQ(OpenFileRecordStore(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = options_;
  bad.fsync = Fsync::kInterval;
  bad.fsync_interval_ms = 0;
  EXPECT_EQ(OpenFileRecordStore(bad).status().code(), absl::StatusCode::kInvalidArgument);
  Open();
  auto second = OpenFileRecordStore(options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(dir_.string()));
}

TEST_F(FileRecordStoreTest, SegmentsRollAtSegmentBytesAndReadAcrossThem) {
  options_.segment_bytes = 256;
  Open();
  CreateStream();
  AppendEach(40);
  const std::vector<fs::path> segments = Segments();
  ASSERT_GT(segments.size(), 5u);
  for (const auto& s : segments) EXPECT_LE(fs::file_size(s), 256u);
  auto got = ReadAll(0, 40);
  ASSERT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[i].offset, i);
  Open();  // Reopen: every segment is found again.
  EXPECT_EQ(Bounds().end, 40);
  got = ReadAll(17, 23);
  ASSERT_EQ(got.size(), 23u);
  EXPECT_THAT(got[0].record.data(), HasSubstr("17:"));
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "more"), 40);
}

TEST_F(FileRecordStoreTest, ReadsUseTheIndexInsteadOfScanningFromTheSegmentStart) {
  options_.segment_bytes = 16 << 10;
  Open();
  CreateStream();
  AppendEach(300, 100);
  ASSERT_GE(Segments().size(), 2u);
  const fs::path first = Segments()[0];
  const Offset second_base = std::stoll(Segments()[1].stem().string());
  ASSERT_GT(fs::file_size(PartitionDir() / "00000000000000000000.index"), 8u);
  Close();
  // Damage the header of the very first batch. The first segment is not the last one, so it is
  // not re-verified on open; a read that scanned from the segment start would hit the damage.
  Flip(first, 12);
  Open();
  auto late = ReadAll(second_base - 1, 1);  // The last record of segment 0, past an index point.
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].offset, second_base - 1);
  EXPECT_THAT(late[0].record.data(), HasSubstr(absl::StrCat(second_base - 1, ":")));
  auto later = ReadAll(second_base + 3, 1);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_THAT(later[0].record.data(), HasSubstr(absl::StrCat(second_base + 3, ":")));
  // Reading the damaged batch itself reports the damage.
  auto reader = store_->OpenReader("s", 0, StartAt::At(0));
  ASSERT_TRUE(reader.ok());
  auto bad = NextSync(**reader, absl::Seconds(10));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().message(), HasSubstr(first.string()));
}

TEST_F(FileRecordStoreTest, RetentionBySizeDeletesTheOldestSegments) {
  options_.segment_bytes = 512;
  options_.retention_bytes = 2048;
  Open();
  CreateStream();
  AppendEach(100);
  ASSERT_TRUE(Eventually([&] {
    uint64_t total = 0;
    for (const auto& s : Segments()) total += fs::file_size(s);
    return total <= 2048 + 512;
  }));
  const PartitionBounds bounds = Bounds();
  EXPECT_GT(bounds.start, 0);
  EXPECT_EQ(bounds.end, 100);
  EXPECT_EQ(Segments().front().stem().string(), absl::StrFormat("%020d", bounds.start));
  // A reader asking for an expired offset is raised to the start.
  auto got = ReadAll(0, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, bounds.start);
  Open();
  EXPECT_EQ(Bounds().start, bounds.start);
  EXPECT_EQ(Bounds().end, 100);
}

TEST_F(FileRecordStoreTest, RetentionByAgeDeletesSegmentsWhoseNewestRecordIsOld) {
  options_.segment_bytes = 512;
  options_.retention_ms = 60'000;
  Open();
  CreateStream();
  AppendEach(30);
  ASSERT_GT(Segments().size(), 1u);
  EXPECT_EQ(Bounds().start, 0);
  // Nothing is old yet: a few retention passes must leave everything.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Bounds().start, 0);
  clock_.Advance(absl::Minutes(2));
  // Every segment expires, the active one included (it is rolled, then deleted).
  ASSERT_TRUE(Eventually([&] { return Bounds().start == 30; }));
  EXPECT_EQ(Bounds().end, 30);
  ASSERT_TRUE(Eventually([&] { return Segments().size() == 1; }));
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "fresh"), 30);
  auto got = ReadAll(0, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.data(), "fresh");
}

// Issue 13: a flipped byte in the middle of the last segment used to cut the log there, deleting
// every later record (their CRCs good) and moving the end offset back, so offsets already
// reported to publishers were handed out again.
TEST_F(FileRecordStoreTest, CorruptRecordInTheMiddleIsQuarantinedAndTheRecordsAfterItKept) {
  Open();
  CreateStream();
  const std::vector<uint64_t> ends = AppendEach(10);
  const fs::path segment = Segments().back();
  const std::string tail = ReadBytes(segment, ends[4], ends[9]);
  Close();
  // Damage a payload byte of the record at offset 5 (its batch starts at ends[4]).
  Flip(segment, ends[4] + 32 + 8 + 3);
  ::testing::internal::CaptureStderr();
  Open();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("ERROR"));
  EXPECT_THAT(log, HasSubstr(segment.string()));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("byte_offset=", ends[4])));
  EXPECT_THAT(log, HasSubstr("kept_records=4"));

  // The damaged bytes are kept aside, beside the segment, from the bad batch on.
  const fs::path quarantine =
      PartitionDir() / absl::StrCat(segment.filename().string(), ".", ends[4], ".quarantine");
  ASSERT_TRUE(fs::exists(quarantine));
  EXPECT_EQ(fs::file_size(quarantine), tail.size());
  EXPECT_THAT(log, HasSubstr(quarantine.string()));

  // The end does not move back; the records before and after the bad one are all there.
  EXPECT_EQ(Bounds().end, 10);
  auto got = ReadAll(0, 9);
  ASSERT_EQ(got.size(), 9u);
  std::vector<Offset> offsets;
  for (const StoredRecord& r : got) offsets.push_back(r.offset);
  EXPECT_THAT(offsets, ::testing::ElementsAre(0, 1, 2, 3, 4, 6, 7, 8, 9));
  EXPECT_THAT(got[5].record.data(), HasSubstr("6:"));
  EXPECT_THAT(got[8].record.data(), HasSubstr("9:"));
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "after"), 10);
  EXPECT_EQ(ReadAll(10, 1)[0].record.data(), "after");

  // And it all holds across another restart (no second salvage, no new quarantine).
  Close();
  Open();
  EXPECT_EQ(Bounds().end, 11);
  EXPECT_EQ(ReadAll(5, 5).back().offset, 10);
}

TEST_F(FileRecordStoreTest, ACorruptLastBatchDoesNotMoveTheEndOffsetBack) {
  Open();
  CreateStream();
  const std::vector<uint64_t> ends = AppendEach(5);
  const fs::path segment = Segments().back();
  Close();
  Flip(segment, ends[3] + 32 + 8 + 3);  // A payload byte of the last record (offset 4).
  Open();
  EXPECT_EQ(Bounds().end, 5);
  EXPECT_EQ(ReadAll(0, 4).size(), 4u);
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "next"), 5);
  EXPECT_EQ(ReadAll(4, 1)[0].record.data(), "next");
}

TEST_F(FileRecordStoreTest, TornTailOfAPartialRecordIsTruncated) {
  Open();
  CreateStream();
  const std::vector<uint64_t> ends = AppendEach(4);
  const fs::path segment = Segments().back();
  Close();
  // What a crash in the middle of the last write() leaves: the batch cut inside its record.
  fs::resize_file(segment, ends[2] + (ends[3] - ends[2]) / 2);
  ::testing::internal::CaptureStderr();
  Open();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("torn tail"));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("byte_offset=", ends[2])));
  EXPECT_EQ(fs::file_size(segment), ends[2]);
  EXPECT_EQ(Bounds().end, 3);
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "next"), 3);
  EXPECT_EQ(ReadAll(3, 1)[0].record.data(), "next");
}

TEST_F(FileRecordStoreTest, TornTailOfAPartialBatchHeaderIsTruncated) {
  Open();
  CreateStream();
  const std::vector<uint64_t> ends = AppendEach(2);
  const fs::path segment = Segments().back();
  Close();
  fs::resize_file(segment, ends[0] + 10);
  Open();
  EXPECT_EQ(fs::file_size(segment), ends[0]);
  EXPECT_EQ(Bounds().end, 1);
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "next"), 1);
  EXPECT_EQ(ReadAll(1, 1)[0].record.data(), "next");
}

TEST_F(FileRecordStoreTest, GarbageAfterTheLastBatchIsTruncated) {
  Open();
  CreateStream();
  const std::vector<uint64_t> ends = AppendEach(2);
  Close();
  AppendBytes(Segments().back(), std::string(100, '\x7f'));
  Open();
  EXPECT_EQ(fs::file_size(Segments().back()), ends[1]);
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "next"), 2);
  EXPECT_EQ(ReadAll(0, 3).size(), 3u);
}

TEST_F(FileRecordStoreTest, AnIncompleteBatchDisappearsWhole) {
  Open();
  CreateStream();
  ASSERT_EQ(*AppendOne(*store_, "s", 0, "single"), 0);
  const uint64_t before = fs::file_size(Segments().back());
  std::vector<v1::Record> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(MakeRecord(absl::StrCat("batch-", i)));
  ASSERT_EQ(*AppendSync(*store_, "s", 0, batch), 1);
  const uint64_t after = fs::file_size(Segments().back());
  Close();
  // Cut the batch after its third record: the first records are intact, yet none may survive.
  fs::resize_file(Segments().back(), before + (after - before) * 3 / 5);
  Open();
  EXPECT_EQ(Bounds().end, 1);
  EXPECT_EQ(fs::file_size(Segments().back()), before);
  EXPECT_EQ(*AppendOne(*store_, "s", 0, "next"), 1);
  auto got = ReadAll(0, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].record.data(), "single");
  EXPECT_EQ(got[1].record.data(), "next");
}

TEST_F(FileRecordStoreTest, PositionsSurviveReopenAndCompaction) {
  Open();
  CreateStream(3);
  // Many commits in flight at once (they share fsyncs), enough to trigger compaction.
  constexpr int kCommits = 3000;
  std::vector<std::future<absl::Status>> pending;
  for (int i = 0; i < kCommits; ++i) {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    pending.push_back(promise->get_future());
    store_->CommitPosition("s", {"g", static_cast<uint32_t>(i % 2)}, i % 3, i,
                           [promise](absl::Status s) { promise->set_value(std::move(s)); });
  }
  for (auto& f : pending) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  ASSERT_TRUE(CommitSync(*store_, "s", {"other", 0}, 2, 42).ok());
  const fs::path log = dir_ / "streams" / "s" / "positions.log";
  // 3000 entries take ~70 KB; compaction keeps the log near its 7 live entries.
  EXPECT_LT(fs::file_size(log), 40'000u);
  auto expected = *store_->GetPositions("s", "g");
  EXPECT_EQ(expected[0][0], 2994);
  EXPECT_EQ(expected[1][2], 2999);
  Open();
  EXPECT_EQ(*store_->GetPositions("s", "g"), expected);
  EXPECT_EQ((*store_->GetPositions("s", "other"))[0][2], 42);
  // A torn entry at the end of the log is dropped; what was there before stays.
  Close();
  AppendBytes(log, std::string("\x20\x00\x00", 3));
  Open();
  EXPECT_EQ(*store_->GetPositions("s", "g"), expected);
  ASSERT_TRUE(CommitSync(*store_, "s", {"g", 0}, 0, 7).ok());
  Open();
  EXPECT_EQ((*store_->GetPositions("s", "g"))[0][0], 7);
}

TEST_F(FileRecordStoreTest, IntervalPolicyAcknowledgesAfterWriteAndPersists) {
  options_.fsync = Fsync::kInterval;
  options_.fsync_interval_ms = 5;
  Open();
  CreateStream();
  for (int i = 0; i < 50; ++i) ASSERT_EQ(*AppendOne(*store_, "s", 0, absl::StrCat(i)), i);
  EXPECT_EQ(ReadAll(0, 50).size(), 50u);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Lets a background fsync run.
  Open();
  EXPECT_EQ(Bounds().end, 50);
  EXPECT_EQ(ReadAll(49, 1)[0].record.data(), "49");
}

TEST_F(FileRecordStoreTest, ConcurrentAppendsFromManyThreadsGetDistinctOffsets) {
  Open();
  CreateStream(2);
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<Offset> offsets[2];
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int p = t % 2;
        std::vector<v1::Record> batch{MakeRecord(absl::StrCat(t, ":", i)), MakeRecord("pair")};
        auto first = AppendSync(*store_, "s", p, batch);
        ASSERT_TRUE(first.ok()) << first.status();
        std::lock_guard<std::mutex> lock(mu);
        EXPECT_TRUE(offsets[p].insert(*first).second);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int p = 0; p < 2; ++p) {
    ASSERT_EQ(offsets[p].size(), static_cast<size_t>(kThreads / 2 * kPerThread));
    // Every batch of two got two consecutive offsets, and no offset was skipped.
    EXPECT_EQ(*offsets[p].begin(), 0);
    EXPECT_EQ(*offsets[p].rbegin(), 2 * (kThreads / 2 * kPerThread - 1));
    EXPECT_EQ(Bounds(p).end, 2 * kThreads / 2 * kPerThread);
  }
  Open();
  EXPECT_EQ(Bounds(0).end, kThreads * kPerThread);
  auto got = ReadAll(0, kThreads * kPerThread);
  for (size_t i = 1; i < got.size(); i += 2) EXPECT_EQ(got[i].record.data(), "pair");
}

TEST_F(FileRecordStoreTest, DeleteStreamRemovesItsDirectory) {
  Open();
  CreateStream();
  ASSERT_TRUE(AppendOne(*store_, "s", 0, "x").ok());
  ASSERT_TRUE(store_->DeleteStream("s").ok());
  EXPECT_FALSE(fs::exists(dir_ / "streams" / "s"));
  EXPECT_EQ(AppendOne(*store_, "s", 0, "x").status().code(), absl::StatusCode::kNotFound);
  CreateStream();
  EXPECT_EQ(Bounds().end, 0);
  Open();
  EXPECT_EQ(Bounds().end, 0);
  EXPECT_EQ(store_->ListStreams().size(), 1u);
}

TEST_F(FileRecordStoreTest, ClosingCompletesQueuedAppendsAndFailsWaitingReaders) {
  Open();
  CreateStream(2);
  auto reader = store_->OpenReader("s", 1, StartAt::Latest());
  ASSERT_TRUE(reader.ok());
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::vector<StoredRecord>>>>();
  auto future = promise->get_future();
  (*reader)->Next(10, 1 << 20, [promise](auto r) { promise->set_value(std::move(r)); });
  constexpr int kAppends = 200;
  std::atomic<int> ok{0}, completed{0};
  for (int i = 0; i < kAppends; ++i) {
    store_->Append("s", 0, {MakeRecord(absl::StrCat(i))}, [&](absl::StatusOr<Offset> r) {
      ok += r.ok() ? 1 : 0;
      ++completed;
    });
  }
  Close();  // At once: most appends are still queued.
  EXPECT_EQ(completed.load(), kAppends);
  EXPECT_EQ(ok.load(), kAppends);
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(future.get().status().code(), absl::StatusCode::kUnavailable);
  reader->reset();
  Open();
  EXPECT_EQ(Bounds(0).end, kAppends);
}

TEST_F(FileRecordStoreTest, AcknowledgedAppendsSurviveACrash) {
  // The child appends, then dies without closing the store (no destructor, no final fsync):
  // every append it saw acknowledged must be found on reopen.
  options_.segment_bytes = 1024;
  EXPECT_EXIT(
      {
        auto store = OpenFileRecordStore(options_, &clock_);
        if (!store.ok() || !(*store)->CreateStream({.name = "s"}).ok()) ::_exit(2);
        for (int i = 0; i < 50; ++i) {
          if (!AppendOne(**store, "s", 0, absl::StrCat(i)).ok()) ::_exit(3);
        }
        ::_exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  Open();
  EXPECT_EQ(Bounds().end, 50);
  EXPECT_EQ(ReadAll(0, 50).back().record.data(), "49");
}

}  // namespace
}  // namespace runnel::gateway
