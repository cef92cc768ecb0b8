#include "gateway/stores/file_record_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "gateway/group_coordinator.h"
#include "gateway/stores/tailing_reader.h"

namespace runnel::gateway {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// On-disk format.
//
// A segment is a sequence of batches, one per Append:
//   batch header (32 bytes, little-endian):
//     u32 magic "RNLB" | u32 crc32c of bytes [8, 32) | i64 base offset | i64 max timestamp (ms)
//     | u32 record count | u32 length of the records section
//   records section: per record  u32 length | u32 crc32c(payload) | payload
//     payload = the serialized v1::Record; its offset is base offset + its index in the batch.
// The header's own CRC and record count make batch boundaries recognisable, so recovery can
// tell a complete batch from a torn one and drop the latter whole (atomic appends).
//
// The index file is a sparse array of (u32 offset - segment base, u32 byte position) pairs,
// pointing at batch headers: one for the first batch and then one every kIndexIntervalBytes.
// Sparse, because a read costs one pread of at most ~4 KiB beyond what it needs anyway, while
// the whole index of a 1 GiB segment is 2 MiB and so can live in memory (no I/O to look an
// offset up); a dense index would cost 8 bytes per record, more than many records themselves.
// ---------------------------------------------------------------------------------------------

constexpr uint32_t kBatchMagic = 0x424c4e52;  // "RNLB" read as little-endian bytes.
constexpr size_t kBatchHeaderBytes = 32;
constexpr size_t kRecordHeaderBytes = 8;
constexpr uint64_t kIndexIntervalBytes = 4096;
constexpr size_t kIndexEntryBytes = 8;
constexpr uint64_t kMaxBatchBytes = 256ull << 20;
constexpr uint64_t kMinSegmentBytes = 128;
constexpr uint64_t kMaxSegmentBytes = 1ull << 30;  // Keeps byte positions within u32.
constexpr size_t kMaxQueuedOps = 100'000;
constexpr size_t kMaxGroupNameBytes = 4096;
constexpr size_t kReadChunkBytes = 64 << 10;
constexpr size_t kRecoveryChunkBytes = 1 << 20;
// positions.log is rewritten once it holds this many entries and 4x the live ones.
constexpr uint64_t kPositionsCompactMinEntries = 1024;

void PutFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

struct BatchHeader {
  Offset base_offset = 0;
  int64_t max_timestamp_ms = 0;
  uint32_t record_count = 0;
  uint32_t records_bytes = 0;
  uint64_t total_bytes() const { return kBatchHeaderBytes + records_bytes; }
};

void EncodeBatchHeader(const BatchHeader& h, char* out) {
  PutFixed32(out, kBatchMagic);
  PutFixed64(out + 8, static_cast<uint64_t>(h.base_offset));
  PutFixed64(out + 16, static_cast<uint64_t>(h.max_timestamp_ms));
  PutFixed32(out + 24, h.record_count);
  PutFixed32(out + 28, h.records_bytes);
  PutFixed32(out + 4, crc32c::Extend(0, out + 8, kBatchHeaderBytes - 8));
}

absl::StatusOr<BatchHeader> DecodeBatchHeader(const char* p) {
  if (GetFixed32(p) != kBatchMagic) {
    return absl::DataLossError("bad batch magic");
  }
  if (GetFixed32(p + 4) != crc32c::Extend(0, p + 8, kBatchHeaderBytes - 8)) {
    return absl::DataLossError("batch header CRC mismatch");
  }
  BatchHeader h;
  h.base_offset = static_cast<Offset>(GetFixed64(p + 8));
  h.max_timestamp_ms = static_cast<int64_t>(GetFixed64(p + 16));
  h.record_count = GetFixed32(p + 24);
  h.records_bytes = GetFixed32(p + 28);
  if (h.base_offset < 0 || h.records_bytes > kMaxBatchBytes ||
      static_cast<uint64_t>(h.record_count) * kRecordHeaderBytes > h.records_bytes) {
    return absl::DataLossError("batch header out of range");
  }
  return h;
}

// Calls fn(index, payload) for each record of a records section, checking lengths and CRCs.
// `at` is the section's byte position in its file, for messages.
template <typename Fn>
absl::Status ForEachRecord(absl::string_view records, uint32_t count, uint64_t at, Fn&& fn) {
  size_t pos = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (records.size() - pos < kRecordHeaderBytes) {
      return absl::DataLossError(absl::StrCat("record ", i, " at byte ", at + pos, " is cut off"));
    }
    const uint32_t len = GetFixed32(records.data() + pos);
    const uint32_t crc = GetFixed32(records.data() + pos + 4);
    if (records.size() - pos - kRecordHeaderBytes < len) {
      return absl::DataLossError(absl::StrCat("record ", i, " at byte ", at + pos, " is cut off"));
    }
    absl::string_view payload = records.substr(pos + kRecordHeaderBytes, len);
    if (crc32c::Value(payload) != crc) {
      return absl::DataLossError(
          absl::StrCat("record ", i, " at byte ", at + pos, " fails its CRC"));
    }
    RUNNEL_RETURN_IF_ERROR(fn(i, payload));
    pos += kRecordHeaderBytes + len;
  }
  if (pos != records.size()) {
    return absl::DataLossError(absl::StrCat("batch at byte ", at, " has trailing bytes"));
  }
  return absl::OkStatus();
}

std::string SegmentStem(Offset base) { return absl::StrFormat("%020d", base); }

// ---------------------------------------------------------------------------------------------
// Small POSIX helpers: every error becomes UNAVAILABLE naming the operation and the file.
// ---------------------------------------------------------------------------------------------

absl::Status ErrnoError(absl::string_view op, absl::string_view path, int err) {
  return absl::UnavailableError(
      absl::StrCat(op, " '", path, "': ", std::error_code(err, std::generic_category()).message()));
}

absl::Status FsError(absl::string_view op, const fs::path& path, const std::error_code& ec) {
  return absl::UnavailableError(absl::StrCat(op, " '", path.string(), "': ", ec.message()));
}

absl::StatusOr<int> OpenAt(int dir_fd, const std::string& name, const std::string& path_for_errors,
                           int flags, absl::string_view op = "open") {
  int fd;
  do {
    fd = ::openat(dir_fd, name.c_str(), flags | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return ErrnoError(op, path_for_errors, errno);
  }
  return fd;
}

absl::StatusOr<int> OpenDir(const std::string& path) {
  return OpenAt(AT_FDCWD, path, path, O_RDONLY | O_DIRECTORY, "open directory");
}

absl::Status WriteAll(int fd, const char* data, size_t size, uint64_t at, absl::string_view path) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
    at += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes at `at`; DATA_LOSS if the file ends first.
absl::Status ReadExact(int fd, char* out, size_t size, uint64_t at, absl::string_view path) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, out, size, static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("read '", path, "': file ends at byte ", at));
    }
    out += n;
    size -= static_cast<size_t>(n);
    at += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SyncFd(int fd, absl::string_view path, bool data_only = true) {
  const int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  if (rc != 0) {
    return ErrnoError("fsync", path, errno);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(int fd, absl::string_view path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return ErrnoError("stat", path, errno);
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::Status Truncate(int fd, uint64_t size, absl::string_view path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return ErrnoError("truncate", path, errno);
  }
  return absl::OkStatus();
}

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Writes `contents` to dir/name via a temp file, fsyncs it, renames it over `name` and fsyncs
// the directory, so a crash leaves either the old or the new file, never a mix.
absl::Status WriteFileAtomically(int dir_fd, const std::string& dir_path, const std::string& name,
                                 absl::string_view contents) {
  const std::string tmp = name + ".tmp";
  const std::string tmp_path = absl::StrCat(dir_path, "/", tmp);
  RUNNEL_ASSIGN_OR_RETURN(int raw, OpenAt(dir_fd, tmp, tmp_path, O_WRONLY | O_CREAT | O_TRUNC));
  Fd fd(raw);
  RUNNEL_RETURN_IF_ERROR(WriteAll(fd.get(), contents.data(), contents.size(), 0, tmp_path));
  RUNNEL_RETURN_IF_ERROR(SyncFd(fd.get(), tmp_path, /*data_only=*/false));
  if (::renameat(dir_fd, tmp.c_str(), dir_fd, name.c_str()) != 0) {
    return ErrnoError("rename", tmp_path, errno);
  }
  return SyncFd(dir_fd, dir_path, /*data_only=*/false);
}

// Reads a region of a file sequentially through a buffer, so that scanning many small batches
// costs few preads.
class FileScanner {
 public:
  FileScanner(int fd, absl::string_view path, uint64_t limit, size_t chunk)
      : fd_(fd), path_(path), limit_(limit), chunk_(chunk) {}

  // Bytes [pos, pos + n), valid until the next call. OUT_OF_RANGE if they pass the limit.
  absl::StatusOr<absl::string_view> Fetch(uint64_t pos, size_t n) {
    if (pos > limit_ || limit_ - pos < n) {
      return absl::OutOfRangeError(absl::StrCat("'", path_, "' ends before byte ", pos + n));
    }
    if (pos >= buf_pos_ && pos + n <= buf_pos_ + buf_.size()) {
      return absl::string_view(buf_.data() + (pos - buf_pos_), n);
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max(n, chunk_), limit_ - pos));
    buf_.resize(want);
    buf_pos_ = pos;
    if (absl::Status s = ReadExact(fd_, buf_.data(), want, pos, path_); !s.ok()) {
      buf_.clear();
      return s;
    }
    return absl::string_view(buf_.data(), n);
  }

 private:
  const int fd_;
  const absl::string_view path_;
  const uint64_t limit_;
  const size_t chunk_;
  std::string buf_;
  uint64_t buf_pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Segments and partitions.
// ---------------------------------------------------------------------------------------------

struct IndexEntry {
  uint32_t relative_offset = 0;
  uint32_t position = 0;
};

// An open segment file. Immutable; pread() on it is safe from any thread. Shared by the
// partition and by readers, so retention can unlink a segment a reader is still reading.
struct SegmentFile {
  SegmentFile(Offset b, std::string p, Fd f) : base(b), path(std::move(p)), fd(std::move(f)) {}
  const Offset base;
  const std::string path;
  const Fd fd;
};

// What readers and retention may see of a segment: only acknowledged batches.
struct SegmentState {
  std::shared_ptr<SegmentFile> file;
  uint64_t bytes = 0;
  Offset end = 0;  // Offset after the last record.
  int64_t max_timestamp_ms = std::numeric_limits<int64_t>::min();
  std::vector<IndexEntry> index;
};

// Result of scanning a segment from some batch on.
struct ScanResult {
  uint64_t valid_bytes = 0;
  Offset end = 0;
  int64_t max_timestamp_ms = std::numeric_limits<int64_t>::min();
  std::vector<IndexEntry> index;  // Entries for batches at or after the scan's start.
  // OK if the scan reached the end of the file cleanly; else why it stopped at valid_bytes.
  absl::Status stop;
  bool torn = false;  // The stop looks like an interrupted write rather than corruption.
};

// Scans batches of `file` from byte `pos` (a batch start holding offset `offset`) to `size`.
// `verify_records` also reads every record and checks its CRC (recovery of the last segment);
// without it only headers are read. `last_index_pos` is the position of the last index entry
// before `pos` (or none), so the index is continued at the same interval.
ScanResult ScanSegment(const SegmentFile& file, uint64_t size, uint64_t pos, Offset offset,
                       bool verify_records, std::optional<uint64_t> last_index_pos) {
  ScanResult r;
  r.end = offset;
  FileScanner scanner(file.fd.get(), file.path, size, kRecoveryChunkBytes);
  while (pos < size) {
    absl::StatusOr<absl::string_view> raw = scanner.Fetch(pos, kBatchHeaderBytes);
    if (!raw.ok()) {
      r.torn = raw.status().code() == absl::StatusCode::kOutOfRange;
      r.stop = raw.status();
      break;
    }
    absl::StatusOr<BatchHeader> h = DecodeBatchHeader(raw->data());
    if (!h.ok()) {
      // A crash can leave zeros where a batch was being written (the size grew, the data did
      // not land); anything else there is corruption.
      r.torn = raw->find_first_not_of('\0') == absl::string_view::npos;
      r.stop = h.status();
      break;
    }
    if (h->base_offset != r.end) {
      r.stop = absl::DataLossError(
          absl::StrCat("batch has base offset ", h->base_offset, ", expected ", r.end));
      break;
    }
    if (size - pos < h->total_bytes()) {
      r.torn = true;
      r.stop = absl::OutOfRangeError(absl::StrCat("batch of ", h->total_bytes(),
                                                  " bytes is cut off by the end of the file"));
      break;
    }
    if (verify_records) {
      absl::StatusOr<absl::string_view> records =
          scanner.Fetch(pos + kBatchHeaderBytes, h->records_bytes);
      absl::Status s = records.status();
      if (s.ok()) {
        s = ForEachRecord(*records, h->record_count, pos + kBatchHeaderBytes,
                          [](uint32_t, absl::string_view) { return absl::OkStatus(); });
      }
      if (!s.ok()) {
        r.stop = s;
        break;
      }
    }
    if (!last_index_pos.has_value() || pos - *last_index_pos >= kIndexIntervalBytes) {
      r.index.push_back({static_cast<uint32_t>(r.end - file.base), static_cast<uint32_t>(pos)});
      last_index_pos = pos;
    }
    r.end += h->record_count;
    r.max_timestamp_ms = std::max(r.max_timestamp_ms, h->max_timestamp_ms);
    pos += h->total_bytes();
    r.valid_bytes = pos;
  }
  r.valid_bytes = std::min(pos, size);
  return r;
}

// Loads an index file; empty if it is missing or does not fit `segment_size`.
std::vector<IndexEntry> LoadIndex(int dir_fd, const std::string& name, const std::string& path,
                                  uint64_t segment_size) {
  std::vector<IndexEntry> index;
  absl::StatusOr<int> raw = OpenAt(dir_fd, name, path, O_RDONLY);
  if (!raw.ok()) {
    return index;
  }
  Fd fd(*raw);
  absl::StatusOr<uint64_t> size = FileSize(fd.get(), path);
  if (!size.ok()) {
    return index;
  }
  std::string bytes(*size - *size % kIndexEntryBytes, '\0');
  if (!ReadExact(fd.get(), bytes.data(), bytes.size(), 0, path).ok()) {
    return index;
  }
  for (size_t i = 0; i < bytes.size(); i += kIndexEntryBytes) {
    IndexEntry e{GetFixed32(bytes.data() + i), GetFixed32(bytes.data() + i + 4)};
    const bool ordered = index.empty() ? (e.relative_offset == 0 && e.position == 0)
                                       : (e.relative_offset > index.back().relative_offset &&
                                          e.position > index.back().position);
    if (!ordered || e.position >= segment_size) {
      return {};
    }
    index.push_back(e);
  }
  return index;
}

std::string EncodeIndex(const std::vector<IndexEntry>& index) {
  std::string out(index.size() * kIndexEntryBytes, '\0');
  for (size_t i = 0; i < index.size(); ++i) {
    PutFixed32(out.data() + i * kIndexEntryBytes, index[i].relative_offset);
    PutFixed32(out.data() + i * kIndexEntryBytes + 4, index[i].position);
  }
  return out;
}

// One partition: its segments, bounds and the readers waiting on it.
//
// Thread-safety: mu_ guards what readers and retention see (segments_, start_, end_, flags).
// The `w_` state, the write side, is owned by the store's writer thread once the partition has
// been opened (Open() runs before the partition is shared).
class FilePartition final : public PartitionSource {
 public:
  struct Options {
    uint64_t segment_bytes;
  };

  // Opens (and recovers) the partition in directory `path`, creating its first segment if it
  // has none.
  static absl::StatusOr<std::shared_ptr<FilePartition>> Open(std::string path,
                                                             const Options& options);

  ~FilePartition() override = default;

  // PartitionSource
  absl::StatusOr<std::vector<StoredRecord>> ReadAt(Offset from, size_t max_records,
                                                   size_t max_bytes) override;
  PartitionBounds Bounds() override {
    absl::MutexLock lock(&mu_);
    return {start_, end_};
  }
  AppendNotifier& notifier() override { return notifier_; }

  const std::string& path() const { return path_; }

  bool Deleted() {
    absl::MutexLock lock(&mu_);
    return deleted_;
  }
  void MarkDeleted() {
    {
      absl::MutexLock lock(&mu_);
      deleted_ = true;
    }
    notifier_.Fail();
  }
  // Called once the writer has stopped: later reads fail with UNAVAILABLE.
  void Close();

  // Retention: drops whole non-active segments past the limits and returns them (their files
  // are unlinked by the caller, outside the lock). Sets `roll_active` when the active segment
  // itself has expired by age and should be rolled so that a later pass can drop it.
  std::vector<std::shared_ptr<SegmentFile>> TakeExpired(uint64_t retention_bytes,
                                                        int64_t cutoff_ms, bool* roll_active);
  void UnlinkSegment(const SegmentFile& segment);

  // --- Writer thread only ---

  // Writes one encoded batch (header space + records) and returns its first offset. On a
  // write error the file is cut back to where it was, so later appends are unaffected.
  absl::StatusOr<Offset> WriteBatch(std::string& batch, uint32_t count, int64_t max_timestamp_ms);
  // Starts a new segment if the active one holds any records.
  absl::Status RollIfNotEmpty() { return w_.bytes == 0 ? absl::OkStatus() : Roll(); }
  // fdatasyncs the active segment. On failure the partition refuses further appends: after a
  // failed fsync the kernel may have dropped the dirty pages, so what is on disk is unknown.
  absl::Status Sync();
  // Makes everything written so far visible to readers; returns the new end offset.
  Offset Publish();
  // True once after a segment roll.
  bool TakeRolled() { return std::exchange(w_.rolled, false); }

 private:
  FilePartition(std::string path, Fd dir_fd, const Options& options)
      : path_(std::move(path)), dir_fd_(std::move(dir_fd)), options_(options) {}

  absl::Status Roll();
  // Lists and recovers the segments. `salvage`: a corrupt batch in the last segment is
  // handled by SalvageCorruptTail (once), after which the segments are listed again.
  absl::Status OpenSegments(bool salvage = true);
  absl::Status SalvageCorruptTail(const SegmentFile& file, uint64_t size, const ScanResult& scan);
  absl::Status CreateSegment(Offset base);
  void AppendIndexEntry(IndexEntry e);

  const std::string path_;
  const Fd dir_fd_;
  const Options options_;

  absl::Mutex mu_;
  std::map<Offset, SegmentState> segments_ ABSL_GUARDED_BY(mu_);
  Offset start_ ABSL_GUARDED_BY(mu_) = 0;
  Offset end_ ABSL_GUARDED_BY(mu_) = 0;
  bool deleted_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  AppendNotifier notifier_;

  // The active (last) segment as the writer sees it: it runs ahead of segments_ by what has
  // been written but not yet published.
  struct WriteState {
    std::shared_ptr<SegmentFile> segment;
    Fd index_fd;
    std::string index_path;
    size_t index_entries_in_file = 0;
    uint64_t bytes = 0;
    Offset end = 0;
    int64_t max_timestamp_ms = std::numeric_limits<int64_t>::min();
    std::optional<uint64_t> last_index_pos;
    std::vector<IndexEntry> unpublished_index;
    bool dirty = false;
    bool broken = false;
    bool rolled = false;
  } w_;
};

absl::StatusOr<std::shared_ptr<FilePartition>> FilePartition::Open(std::string path,
                                                                   const Options& options) {
  RUNNEL_ASSIGN_OR_RETURN(int dir_fd, OpenDir(path));
  std::shared_ptr<FilePartition> p(new FilePartition(std::move(path), Fd(dir_fd), options));
  RUNNEL_RETURN_IF_ERROR(p->OpenSegments());
  return p;
}

// A corrupt batch in the last segment (a bad CRC, not the torn tail of an interrupted write)
// must cost neither the acknowledged batches after it nor offsets already reported to
// publishers. So: the bytes from the bad batch on are copied aside, beside the segment, to
// "<segment>.log.<byte>.quarantine"; the segment is cut at the bad batch; every later batch that
// passes its header and record CRCs is copied, byte for byte (a batch carries its own base
// offset), into a new segment starting at its offset; and when headers that passed their CRC
// claim offsets beyond the last batch kept, an empty segment starts after them. The end offset
// thus never moves back, and the bad batch's records become a gap that readers step over, as
// they do over a corrupt older segment. A bad batch whose header itself fails leaves its
// record count unknown: if it was the last batch, the end is the end of the batch before it.
absl::Status FilePartition::SalvageCorruptTail(const SegmentFile& file, uint64_t size,
                                               const ScanResult& scan) {
  const uint64_t cut = scan.valid_bytes;
  std::string tail(size - cut, '\0');
  RUNNEL_RETURN_IF_ERROR(ReadExact(file.fd.get(), tail.data(), tail.size(), cut, file.path));
  const std::string stem = SegmentStem(file.base);
  const std::string quarantine_name = absl::StrCat(stem, ".log.", cut, ".quarantine");
  const std::string quarantine_path = absl::StrCat(path_, "/", quarantine_name);
  {
    RUNNEL_ASSIGN_OR_RETURN(int raw, OpenAt(dir_fd_.get(), quarantine_name, quarantine_path,
                                            O_WRONLY | O_CREAT | O_TRUNC, "quarantine"));
    Fd fd(raw);
    RUNNEL_RETURN_IF_ERROR(WriteAll(fd.get(), tail.data(), tail.size(), 0, quarantine_path));
    RUNNEL_RETURN_IF_ERROR(SyncFd(fd.get(), quarantine_path));
  }

  // Resynchronise: look for batch headers at every byte after the bad one.
  struct Run {
    Offset base;
    Offset end;
    std::string bytes;
  };
  std::vector<Run> runs;
  Offset floor = scan.end;    // Kept batches start at or after it, in order.
  Offset claimed = scan.end;  // The end that headers passing their CRC vouch for.
  size_t pos = 0;
  while (tail.size() - pos >= kBatchHeaderBytes) {
    if (GetFixed32(tail.data() + pos) != kBatchMagic) {
      ++pos;
      continue;
    }
    absl::StatusOr<BatchHeader> h = DecodeBatchHeader(tail.data() + pos);
    if (!h.ok() || h->base_offset < floor || tail.size() - pos < h->total_bytes()) {
      ++pos;
      continue;
    }
    const Offset batch_end = h->base_offset + h->record_count;
    claimed = std::max(claimed, batch_end);
    absl::string_view records =
        absl::string_view(tail).substr(pos + kBatchHeaderBytes, h->records_bytes);
    if (!ForEachRecord(records, h->record_count, cut + pos + kBatchHeaderBytes,
                       [](uint32_t, absl::string_view) { return absl::OkStatus(); })
             .ok()) {
      ++pos;
      continue;
    }
    if (runs.empty() || runs.back().end != h->base_offset) {
      runs.push_back({.base = h->base_offset, .end = h->base_offset, .bytes = {}});
    }
    runs.back().bytes.append(tail, pos, h->total_bytes());
    runs.back().end = batch_end;
    floor = batch_end;
    pos += h->total_bytes();
  }

  RUNNEL_RETURN_IF_ERROR(Truncate(file.fd.get(), cut, file.path));
  RUNNEL_RETURN_IF_ERROR(SyncFd(file.fd.get(), file.path));
  ::unlinkat(dir_fd_.get(), (stem + ".index").c_str(), 0);  // Rebuilt by the next listing.
  Offset kept = 0;
  for (const Run& run : runs) {
    const std::string name = SegmentStem(run.base) + ".log";
    const std::string run_path = absl::StrCat(path_, "/", name);
    RUNNEL_ASSIGN_OR_RETURN(
        int raw, OpenAt(dir_fd_.get(), name, run_path, O_WRONLY | O_CREAT | O_TRUNC, "salvage"));
    Fd fd(raw);
    RUNNEL_RETURN_IF_ERROR(WriteAll(fd.get(), run.bytes.data(), run.bytes.size(), 0, run_path));
    RUNNEL_RETURN_IF_ERROR(SyncFd(fd.get(), run_path));
    kept += run.end - run.base;
  }
  const Offset salvaged_end = runs.empty() ? scan.end : runs.back().end;
  if (claimed > salvaged_end) {
    const std::string name = SegmentStem(claimed) + ".log";
    RUNNEL_ASSIGN_OR_RETURN(int raw, OpenAt(dir_fd_.get(), name, absl::StrCat(path_, "/", name),
                                            O_WRONLY | O_CREAT | O_TRUNC, "create segment"));
    Fd fd(raw);
  }
  RUNNEL_RETURN_IF_ERROR(SyncFd(dir_fd_.get(), path_, /*data_only=*/false));
  RUNNEL_LOG(ERROR) << "corrupt batch in the last segment: the bytes from it on are kept aside "
                       "and the batches after it that pass their CRCs are kept"
                    << Kv("path", file.path) << Kv("byte_offset", cut)
                    << Kv("quarantine", quarantine_path) << Kv("lost_from_offset", scan.end)
                    << Kv("kept_records", kept) << Kv("next_offset", std::max(claimed, scan.end))
                    << Kv("detail", scan.stop.message());
  return absl::OkStatus();
}

absl::Status FilePartition::CreateSegment(Offset base) {
  const std::string stem = SegmentStem(base);
  const std::string log_path = absl::StrCat(path_, "/", stem, ".log");
  RUNNEL_ASSIGN_OR_RETURN(int log_fd, OpenAt(dir_fd_.get(), stem + ".log", log_path,
                                              O_RDWR | O_CREAT, "create segment"));
  auto segment = std::make_shared<SegmentFile>(base, log_path, Fd(log_fd));
  // Not O_EXCL: an earlier roll that failed half-way may have left this file, empty.
  RUNNEL_ASSIGN_OR_RETURN(uint64_t existing, FileSize(log_fd, log_path));
  if (existing != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("create segment '", log_path, "': a non-empty file is in the way"));
  }
  const std::string index_path = absl::StrCat(path_, "/", stem, ".index");
  RUNNEL_ASSIGN_OR_RETURN(int index_fd, OpenAt(dir_fd_.get(), stem + ".index", index_path,
                                               O_RDWR | O_CREAT | O_TRUNC, "create index"));
  // The new files' directory entries must be durable before anything in them is acknowledged.
  RUNNEL_RETURN_IF_ERROR(SyncFd(dir_fd_.get(), path_, /*data_only=*/false));
  w_.segment = segment;
  w_.index_fd = Fd(index_fd);
  w_.index_path = index_path;
  w_.index_entries_in_file = 0;
  w_.bytes = 0;
  w_.end = base;
  w_.max_timestamp_ms = std::numeric_limits<int64_t>::min();
  w_.last_index_pos.reset();
  w_.unpublished_index.clear();
  absl::MutexLock lock(&mu_);
  segments_[base] = SegmentState{.file = std::move(segment), .bytes = 0, .end = base};
  return absl::OkStatus();
}

absl::Status FilePartition::OpenSegments(bool salvage) {
  std::vector<Offset> bases;
  std::error_code ec;
  for (fs::directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string ext = it->path().extension().string();
    Offset base;
    if ((ext == ".log" || ext == ".index") &&
        absl::SimpleAtoi(it->path().stem().string(), &base) && base >= 0) {
      if (ext == ".log") bases.push_back(base);
    } else if (ext == ".tmp") {
      ::unlinkat(dir_fd_.get(), name.c_str(), 0);
    } else if (ext == ".quarantine") {
      // Bytes a recovery kept aside (SalvageCorruptTail); reported when they were made.
    } else {
      RUNNEL_LOG(WARNING) << "ignoring unexpected file in partition directory"
                          << Kv("path", it->path().string());
    }
  }
  if (ec) {
    return FsError("list partition directory", path_, ec);
  }
  std::sort(bases.begin(), bases.end());
  if (bases.empty()) {
    return CreateSegment(0);
  }

  for (size_t i = 0; i < bases.size(); ++i) {
    const bool last = i + 1 == bases.size();
    const std::string stem = SegmentStem(bases[i]);
    const std::string log_path = absl::StrCat(path_, "/", stem, ".log");
    RUNNEL_ASSIGN_OR_RETURN(int raw_fd, OpenAt(dir_fd_.get(), stem + ".log", log_path, O_RDWR));
    auto file = std::make_shared<SegmentFile>(bases[i], log_path, Fd(raw_fd));
    RUNNEL_ASSIGN_OR_RETURN(uint64_t size, FileSize(file->fd.get(), log_path));
    const std::string index_path = absl::StrCat(path_, "/", stem, ".index");

    ScanResult scan;
    std::vector<IndexEntry> index;
    bool rewrite_index = false;
    if (last) {
      // The last segment is the only one a crash can have left half-written (older ones were
      // fsynced when they rolled), so it is read and CRC-checked whole.
      scan = ScanSegment(*file, size, 0, bases[i], /*verify_records=*/true, std::nullopt);
      index = std::move(scan.index);
      rewrite_index = true;
    } else {
      index = LoadIndex(dir_fd_.get(), stem + ".index", index_path, size);
      if (!index.empty()) {
        const IndexEntry last_entry = index.back();
        scan = ScanSegment(*file, size, last_entry.position, bases[i] + last_entry.relative_offset,
                           /*verify_records=*/false, last_entry.position);
        if (!scan.stop.ok() && scan.valid_bytes == last_entry.position) {
          index.clear();  // The index points at no batch: do not trust it.
        } else {
          index.insert(index.end(), scan.index.begin(), scan.index.end());
        }
      }
      if (index.empty()) {
        scan = ScanSegment(*file, size, 0, bases[i], /*verify_records=*/false, std::nullopt);
        index = std::move(scan.index);
        rewrite_index = true;
      }
    }
    if (!scan.stop.ok() && last && !scan.torn && salvage) {
      RUNNEL_RETURN_IF_ERROR(SalvageCorruptTail(*file, size, scan));
      {
        absl::MutexLock lock(&mu_);
        segments_.clear();
      }
      return OpenSegments(/*salvage=*/false);
    }
    if (!scan.stop.ok()) {
      if (scan.torn && last) {
        RUNNEL_LOG(WARNING) << "truncating the torn tail of a segment (an interrupted append)"
                            << Kv("path", log_path) << Kv("byte_offset", scan.valid_bytes)
                            << Kv("dropped_bytes", size - scan.valid_bytes)
                            << Kv("detail", scan.stop.message());
      } else {
        RUNNEL_LOG(ERROR) << "corrupt record in segment; keeping the readable prefix"
                          << Kv("path", log_path) << Kv("byte_offset", scan.valid_bytes)
                          << Kv("next_offset", scan.end) << Kv("detail", scan.stop.message());
      }
      if (last) {
        RUNNEL_RETURN_IF_ERROR(Truncate(file->fd.get(), scan.valid_bytes, log_path));
        RUNNEL_RETURN_IF_ERROR(SyncFd(file->fd.get(), log_path));
      }
      // An older segment is left as it is on disk (a tool may salvage more of it); readers
      // see its readable prefix and then continue with the next segment.
    }
    if (i > 0) {
      absl::MutexLock lock(&mu_);
      const Offset prev_end = segments_.rbegin()->second.end;
      if (prev_end != bases[i]) {
        RUNNEL_LOG(ERROR) << "segment does not start where the previous one ends"
                          << Kv("path", log_path) << Kv("previous_end", prev_end);
      }
    }
    Fd index_fd;
    if (rewrite_index || last) {
      RUNNEL_ASSIGN_OR_RETURN(int ifd, OpenAt(dir_fd_.get(), stem + ".index", index_path,
                                              O_RDWR | O_CREAT | O_TRUNC, "rewrite index"));
      index_fd = Fd(ifd);
      const std::string encoded = EncodeIndex(index);
      RUNNEL_RETURN_IF_ERROR(WriteAll(index_fd.get(), encoded.data(), encoded.size(), 0,
                                      index_path));
      if (!last) {
        RUNNEL_RETURN_IF_ERROR(SyncFd(index_fd.get(), index_path));
      }
    }
    if (last) {
      w_.segment = file;
      w_.index_fd = std::move(index_fd);
      w_.index_path = index_path;
      w_.index_entries_in_file = index.size();
      w_.bytes = scan.valid_bytes;
      w_.end = scan.end;
      w_.max_timestamp_ms = scan.max_timestamp_ms;
      w_.last_index_pos = index.empty() ? std::nullopt
                                        : std::optional<uint64_t>(index.back().position);
    }
    absl::MutexLock lock(&mu_);
    segments_[bases[i]] = SegmentState{.file = std::move(file),
                                       .bytes = scan.valid_bytes,
                                       .end = scan.end,
                                       .max_timestamp_ms = scan.max_timestamp_ms,
                                       .index = std::move(index)};
  }
  absl::MutexLock lock(&mu_);
  start_ = segments_.begin()->first;
  end_ = segments_.rbegin()->second.end;
  notifier_.Advance(end_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredRecord>> FilePartition::ReadAt(Offset from, size_t max_records,
                                                                size_t max_bytes) {
  std::vector<StoredRecord> out;
  size_t bytes = 0;
  bool first_pass = true;
  for (;;) {
    std::shared_ptr<SegmentFile> file;
    uint64_t pos = 0, limit = 0;
    Offset segment_end = 0;
    {
      absl::MutexLock lock(&mu_);
      if (deleted_) {
        return absl::NotFoundError(absl::StrCat("partition '", path_, "' was deleted"));
      }
      if (closed_) {
        return absl::UnavailableError(absl::StrCat("partition '", path_, "': store is closed"));
      }
      if (first_pass && from > end_) {
        return absl::OutOfRangeError(absl::StrCat(
            "offset ", from, " is beyond the end of the partition (next offset ", end_, ")"));
      }
      first_pass = false;
      from = std::max(from, start_);
      // Skip segments that end at or before `from` (a gap left by a corrupt older segment).
      auto it = segments_.upper_bound(from);
      RUNNEL_CHECK(it != segments_.begin()) << "start_ is the first segment's base, <= from";
      --it;
      while (it != segments_.end() && from >= it->second.end) {
        ++it;
        if (it != segments_.end()) from = std::max(from, it->first);
      }
      if (it == segments_.end() || from >= end_) {
        return out;
      }
      const SegmentState& seg = it->second;
      file = seg.file;
      limit = seg.bytes;
      segment_end = seg.end;
      const uint32_t rel = static_cast<uint32_t>(from - seg.file->base);
      auto idx = std::upper_bound(
          seg.index.begin(), seg.index.end(), rel,
          [](uint32_t r, const IndexEntry& e) { return r < e.relative_offset; });
      RUNNEL_CHECK(idx != seg.index.begin()) << "every non-empty segment indexes its first batch";
      pos = std::prev(idx)->position;
    }
    // Below `limit` the segment is immutable (the writer only appends past it), so it is read
    // without the lock.
    FileScanner scanner(file->fd.get(), file->path, limit, kReadChunkBytes);
    while (pos < limit && out.size() < max_records) {
      auto raw = scanner.Fetch(pos, kBatchHeaderBytes);
      absl::StatusOr<BatchHeader> h =
          raw.ok() ? DecodeBatchHeader(raw->data()) : absl::StatusOr<BatchHeader>(raw.status());
      if (!h.ok()) {
        if (!out.empty()) return out;
        return absl::DataLossError(absl::StrCat("read '", file->path, "' at byte ", pos, ": ",
                                                h.status().message()));
      }
      if (h->base_offset + h->record_count <= from) {
        pos += h->total_bytes();
        continue;
      }
      auto records = scanner.Fetch(pos + kBatchHeaderBytes, h->records_bytes);
      absl::Status s = records.status();
      bool full = false;
      if (s.ok()) {
        s = ForEachRecord(*records, h->record_count, pos + kBatchHeaderBytes,
                          [&](uint32_t i, absl::string_view payload) -> absl::Status {
                            const Offset offset = h->base_offset + i;
                            if (offset < from || full) return absl::OkStatus();
                            if (out.size() >= max_records ||
                                (!out.empty() && bytes + payload.size() > max_bytes)) {
                              full = true;
                              return absl::OkStatus();
                            }
                            StoredRecord r{.offset = offset};
                            if (!r.record.ParseFromArray(payload.data(),
                                                         static_cast<int>(payload.size()))) {
                              return absl::DataLossError(
                                  absl::StrCat("record at offset ", offset, " does not parse"));
                            }
                            bytes += payload.size();
                            out.push_back(std::move(r));
                            return absl::OkStatus();
                          });
      }
      if (!s.ok()) {
        if (!out.empty()) return out;
        return absl::Status(s.code() == absl::StatusCode::kOutOfRange ? absl::StatusCode::kDataLoss
                                                                      : s.code(),
                            absl::StrCat("read '", file->path, "' at byte ", pos, ": ",
                                         s.message()));
      }
      if (full) return out;
      pos += h->total_bytes();
    }
    if (!out.empty()) return out;
    from = segment_end;  // Nothing at or after `from` in this segment: go on to the next.
  }
}

void FilePartition::Close() {
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  notifier_.Fail();
  if (w_.index_fd.get() >= 0) {
    if (absl::Status s = SyncFd(w_.index_fd.get(), w_.index_path); !s.ok()) {
      RUNNEL_LOG(WARNING) << "could not sync an index file (it is rebuilt on open)"
                          << Kv("error", s.message());
    }
  }
}

std::vector<std::shared_ptr<SegmentFile>> FilePartition::TakeExpired(uint64_t retention_bytes,
                                                                     int64_t cutoff_ms,
                                                                     bool* roll_active) {
  std::vector<std::shared_ptr<SegmentFile>> expired;
  absl::MutexLock lock(&mu_);
  *roll_active = false;
  if (deleted_ || closed_) {
    return expired;
  }
  uint64_t total = 0;
  for (const auto& [base, s] : segments_) total += s.bytes;
  // The active (last) segment is never dropped here: the writer owns it.
  while (segments_.size() > 1) {
    const SegmentState& oldest = segments_.begin()->second;
    const bool by_size = retention_bytes > 0 && total > retention_bytes;
    const bool by_age = oldest.bytes > 0 && oldest.max_timestamp_ms < cutoff_ms;
    if (!by_size && !by_age && oldest.bytes > 0) {
      break;
    }
    total -= oldest.bytes;
    expired.push_back(oldest.file);
    segments_.erase(segments_.begin());
  }
  start_ = std::max(start_, segments_.begin()->first);
  const SegmentState& active = segments_.rbegin()->second;
  *roll_active = active.bytes > 0 && active.max_timestamp_ms < cutoff_ms;
  return expired;
}

void FilePartition::UnlinkSegment(const SegmentFile& segment) {
  // unlinkat() relative to the partition's directory fd: if the stream has been deleted (and
  // perhaps re-created under the same name) this cannot touch the new stream's files.
  const std::string stem = SegmentStem(segment.base);
  for (const std::string& name : {stem + ".log", stem + ".index"}) {
    if (::unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      RUNNEL_LOG(WARNING) << "could not delete an expired segment file"
                          << Kv("path", absl::StrCat(path_, "/", name))
                          << Kv("error", std::error_code(errno, std::generic_category()).message());
    }
  }
  RUNNEL_LOG(INFO) << "deleted expired segment" << Kv("path", segment.path);
}

absl::Status FilePartition::Roll() {
  // Older segments are fsynced when they roll whatever the policy, so that after a crash only
  // the last segment of a partition can need repair.
  RUNNEL_RETURN_IF_ERROR(SyncFd(w_.segment->fd.get(), w_.segment->path));
  if (w_.index_fd.get() >= 0) {
    RUNNEL_RETURN_IF_ERROR(SyncFd(w_.index_fd.get(), w_.index_path));
  }
  w_.dirty = false;
  Publish();
  RUNNEL_RETURN_IF_ERROR(CreateSegment(w_.end));
  w_.rolled = true;
  return absl::OkStatus();
}

void FilePartition::AppendIndexEntry(IndexEntry e) {
  w_.unpublished_index.push_back(e);
  w_.last_index_pos = e.position;
  if (w_.index_fd.get() < 0) {
    return;
  }
  char buf[kIndexEntryBytes];
  PutFixed32(buf, e.relative_offset);
  PutFixed32(buf + 4, e.position);
  // The index file is a cache: a failed write only costs a rebuild on the next open.
  if (WriteAll(w_.index_fd.get(), buf, sizeof(buf), w_.index_entries_in_file * kIndexEntryBytes,
               w_.index_path)
          .ok()) {
    ++w_.index_entries_in_file;
  } else {
    w_.index_fd.Reset();
  }
}

absl::StatusOr<Offset> FilePartition::WriteBatch(std::string& batch, uint32_t count,
                                                 int64_t max_timestamp_ms) {
  if (w_.broken) {
    return absl::UnavailableError(absl::StrCat(
        "append to '", path_, "': the partition is read-only after a failed write or fsync"));
  }
  if (count == 0) {
    return w_.end;
  }
  const bool over_size = w_.bytes > 0 && w_.bytes + batch.size() > options_.segment_bytes;
  const bool over_offsets = static_cast<uint64_t>(w_.end - w_.segment->base) + count >
                            std::numeric_limits<int32_t>::max();
  if (over_size || over_offsets) {
    if (absl::Status s = Roll(); !s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("append to '", path_, "': roll segment: ", s.message()));
    }
  }
  const Offset first = w_.end;
  BatchHeader h{.base_offset = first,
                .max_timestamp_ms = max_timestamp_ms,
                .record_count = count,
                .records_bytes = static_cast<uint32_t>(batch.size() - kBatchHeaderBytes)};
  EncodeBatchHeader(h, batch.data());
  const uint64_t pos = w_.bytes;
  // One pwrite() for the whole batch; if it fails half-way the batch is cut off again, and a
  // crash mid-write leaves a torn batch that recovery drops whole.
  if (absl::Status s = WriteAll(w_.segment->fd.get(), batch.data(), batch.size(), pos,
                                w_.segment->path);
      !s.ok()) {
    if (!Truncate(w_.segment->fd.get(), pos, w_.segment->path).ok()) {
      w_.broken = true;
    }
    return s;
  }
  if (!w_.last_index_pos.has_value() || pos - *w_.last_index_pos >= kIndexIntervalBytes) {
    AppendIndexEntry({static_cast<uint32_t>(first - w_.segment->base), static_cast<uint32_t>(pos)});
  }
  w_.bytes += batch.size();
  w_.end += count;
  w_.max_timestamp_ms = std::max(w_.max_timestamp_ms, max_timestamp_ms);
  w_.dirty = true;
  return first;
}

absl::Status FilePartition::Sync() {
  if (!w_.dirty) {
    return absl::OkStatus();
  }
  if (absl::Status s = SyncFd(w_.segment->fd.get(), w_.segment->path); !s.ok()) {
    w_.broken = true;
    return s;
  }
  w_.dirty = false;
  return absl::OkStatus();
}

Offset FilePartition::Publish() {
  absl::MutexLock lock(&mu_);
  SegmentState& s = segments_[w_.segment->base];
  if (s.file == nullptr) {
    s.file = w_.segment;
  }
  s.bytes = w_.bytes;
  s.end = w_.end;
  s.max_timestamp_ms = w_.max_timestamp_ms;
  s.index.insert(s.index.end(), w_.unpublished_index.begin(), w_.unpublished_index.end());
  w_.unpublished_index.clear();
  end_ = std::max(end_, w_.end);
  return end_;
}

// ---------------------------------------------------------------------------------------------
// Streams: metadata and group positions.
// ---------------------------------------------------------------------------------------------

std::string EncodeStreamMeta(const StreamSpec& spec) {
  std::string body = absl::StrCat("runnel-stream 1\nname=", spec.name,
                                  "\npartitions=", spec.partitions,
                                  "\ncontent_type=", spec.content_type,
                                  "\ncreated_unix_ms=", spec.created_unix_ms, "\n");
  return absl::StrCat(body, "crc32c=", crc32c::Value(body), "\n");
}

absl::StatusOr<StreamSpec> DecodeStreamMeta(absl::string_view text, absl::string_view path) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("stream metadata '", path, "': ", why));
  };
  const size_t crc_at = text.rfind("crc32c=");
  uint32_t crc = 0;
  if (crc_at == absl::string_view::npos ||
      !absl::SimpleAtoi(absl::StripSuffix(text.substr(crc_at + 7), "\n"), &crc) ||
      crc32c::Value(text.substr(0, crc_at)) != crc) {
    return bad("checksum mismatch");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text.substr(0, crc_at), '\n',
                                                        absl::SkipEmpty());
  if (lines.empty() || lines[0] != "runnel-stream 1") {
    return bad("unknown format");
  }
  StreamSpec spec;
  int fields = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits('=', 1));
    if (kv.first == "name") {
      spec.name = std::string(kv.second);
      ++fields;
    } else if (kv.first == "partitions" && absl::SimpleAtoi(kv.second, &spec.partitions)) {
      ++fields;
    } else if (kv.first == "content_type") {
      spec.content_type = std::string(kv.second);
      ++fields;
    } else if (kv.first == "created_unix_ms" &&
               absl::SimpleAtoi(kv.second, &spec.created_unix_ms)) {
      ++fields;
    }
  }
  if (fields != 4) {
    return bad("missing fields");
  }
  if (absl::Status s = ValidateStreamSpec(spec); !s.ok()) {
    return bad(s.message());
  }
  return spec;
}

// positions.log entry: u32 payload length | u32 crc32c(payload) | payload, where payload =
// u32 group version | i32 partition | i64 offset | group name bytes.
std::string EncodePositionEntry(const GroupId& group, Partition partition, Offset offset) {
  std::string out(8 + 16 + group.name.size(), '\0');
  char* p = out.data() + 8;
  PutFixed32(p, group.version);
  PutFixed32(p + 4, static_cast<uint32_t>(partition));
  PutFixed64(p + 8, static_cast<uint64_t>(offset));
  std::memcpy(p + 16, group.name.data(), group.name.size());
  PutFixed32(out.data(), static_cast<uint32_t>(out.size() - 8));
  PutFixed32(out.data() + 4, crc32c::Value(absl::string_view(p, out.size() - 8)));
  return out;
}

using PositionMap = std::map<std::string, GroupPositions, std::less<>>;

// A stream: its spec, partitions and group positions.
//
// Thread-safety: mu guards `positions` and `deleted`; the positions log (`log_*`) is owned by
// the writer thread once the stream is open.
struct FileStream {
  StreamSpec spec;
  std::string path;
  Fd dir_fd;
  std::vector<std::shared_ptr<FilePartition>> partitions;

  absl::Mutex mu;
  PositionMap positions ABSL_GUARDED_BY(mu);
  bool deleted ABSL_GUARDED_BY(mu) = false;

  Fd log_fd;
  uint64_t log_bytes = 0;
  uint64_t log_entries = 0;
  uint64_t live_entries = 0;  // Number of distinct (group, version, partition) keys.
  bool log_broken = false;

  std::string log_path() const { return path + "/positions.log"; }
};

// Replays positions.log into `stream`, truncating a torn or corrupt tail.
absl::Status ReplayPositions(FileStream& stream) {
  const std::string path = stream.log_path();
  RUNNEL_ASSIGN_OR_RETURN(int raw, OpenAt(stream.dir_fd.get(), "positions.log", path,
                                          O_RDWR | O_CREAT));
  stream.log_fd = Fd(raw);
  RUNNEL_ASSIGN_OR_RETURN(uint64_t size, FileSize(stream.log_fd.get(), path));
  std::string bytes(size, '\0');
  RUNNEL_RETURN_IF_ERROR(ReadExact(stream.log_fd.get(), bytes.data(), bytes.size(), 0, path));
  PositionMap positions;
  uint64_t pos = 0, entries = 0, live = 0;
  absl::string_view problem;
  while (pos < size) {
    if (size - pos < 8) {
      problem = "cut off";
      break;
    }
    const uint32_t len = GetFixed32(bytes.data() + pos);
    const uint32_t crc = GetFixed32(bytes.data() + pos + 4);
    if (len < 16 || size - pos - 8 < len) {
      problem = "cut off";
      break;
    }
    const char* p = bytes.data() + pos + 8;
    if (crc32c::Extend(0, p, len) != crc) {
      problem = "CRC mismatch";
      break;
    }
    const uint32_t version = GetFixed32(p);
    const Partition partition = static_cast<Partition>(GetFixed32(p + 4));
    const Offset offset = static_cast<Offset>(GetFixed64(p + 8));
    std::string name(p + 16, len - 16);
    auto [it, inserted] = positions[name][version].insert_or_assign(partition, offset);
    live += inserted ? 1 : 0;
    ++entries;
    pos += 8 + len;
  }
  if (pos < size) {
    RUNNEL_LOG(WARNING) << "truncating the damaged tail of a positions log" << Kv("path", path)
                        << Kv("byte_offset", pos) << Kv("problem", problem);
    RUNNEL_RETURN_IF_ERROR(Truncate(stream.log_fd.get(), pos, path));
    RUNNEL_RETURN_IF_ERROR(SyncFd(stream.log_fd.get(), path));
  }
  stream.log_bytes = pos;
  stream.log_entries = entries;
  stream.live_entries = live;
  absl::MutexLock lock(&stream.mu);
  stream.positions = std::move(positions);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<FileStream>> OpenStream(const std::string& path,
                                                       const FilePartition::Options& options) {
  auto stream = std::make_shared<FileStream>();
  stream->path = path;
  RUNNEL_ASSIGN_OR_RETURN(int dir_fd, OpenDir(path));
  stream->dir_fd = Fd(dir_fd);
  const std::string meta_path = path + "/stream.meta";
  RUNNEL_ASSIGN_OR_RETURN(int meta_raw, OpenAt(dir_fd, "stream.meta", meta_path, O_RDONLY));
  Fd meta_fd(meta_raw);
  RUNNEL_ASSIGN_OR_RETURN(uint64_t meta_size, FileSize(meta_fd.get(), meta_path));
  std::string meta(std::min<uint64_t>(meta_size, 1 << 16), '\0');
  RUNNEL_RETURN_IF_ERROR(ReadExact(meta_fd.get(), meta.data(), meta.size(), 0, meta_path));
  RUNNEL_ASSIGN_OR_RETURN(stream->spec, DecodeStreamMeta(meta, meta_path));
  for (int32_t p = 0; p < stream->spec.partitions; ++p) {
    const std::string partition_path = absl::StrCat(path, "/", p);
    std::error_code ec;
    if (fs::create_directory(partition_path, ec)) {
      RUNNEL_RETURN_IF_ERROR(SyncFd(dir_fd, path, /*data_only=*/false));
    } else if (ec) {
      return FsError("create partition directory", partition_path, ec);
    }
    RUNNEL_ASSIGN_OR_RETURN(auto partition, FilePartition::Open(partition_path, options));
    stream->partitions.push_back(std::move(partition));
  }
  RUNNEL_RETURN_IF_ERROR(ReplayPositions(*stream));
  return stream;
}

// ---------------------------------------------------------------------------------------------
// The store.
// ---------------------------------------------------------------------------------------------

class FileMembership final : public GroupMembership {
 public:
  FileMembership(std::unique_ptr<LocalGroupCoordinator::Member> member,
                 std::vector<std::shared_ptr<FilePartition>> partitions)
      : partitions_(std::move(partitions)), member_(std::move(member)) {}

  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(Partition partition,
                                                              StartAt start) override {
    if (partition < 0 || partition >= static_cast<Partition>(partitions_.size())) {
      return absl::NotFoundError(absl::StrCat("partition ", partition, " does not exist"));
    }
    return TailingReader::Open(partitions_[partition], start);
  }

 private:
  std::vector<std::shared_ptr<FilePartition>> partitions_;
  std::unique_ptr<LocalGroupCoordinator::Member> member_;
};

struct AppendOp {
  std::shared_ptr<FilePartition> partition;
  std::string batch;  // kBatchHeaderBytes of room for the header, then the records section.
  uint32_t count = 0;
  int64_t max_timestamp_ms = 0;
  RecordStore::AppendDone done;
};
struct CommitOp {
  std::shared_ptr<FileStream> stream;
  GroupId group;
  Partition partition = 0;
  Offset offset = 0;
  RecordStore::CommitDone done;
};
struct RollOp {
  std::shared_ptr<FilePartition> partition;
};
using Op = std::variant<AppendOp, CommitOp, RollOp>;

// Thread-safety: `mu_` guards the stream map; `control_mu_` serialises CreateStream and
// DeleteStream (which do I/O, and so must not hold mu_); `queue_mu_` guards the writer's queue.
// Everything under a stream's or partition's write side belongs to the writer thread.
class FileRecordStore final : public RecordStore {
 public:
  FileRecordStore(const RecordStoreOptions::File& options, const Clock* clock, Fd lock_fd)
      : options_(options),
        partition_options_{.segment_bytes = options.segment_bytes},
        clock_(clock != nullptr ? clock : &SystemClock::Get()),
        data_dir_(options.data_dir),
        lock_fd_(std::move(lock_fd)) {}

  ~FileRecordStore() override;

  absl::Status Recover();
  void Start();

  absl::StatusOr<StreamSpec> CreateStream(const StreamSpec& spec) override;
  absl::Status DeleteStream(absl::string_view name) override;
  absl::StatusOr<StreamSpec> GetStream(absl::string_view name) override;
  std::vector<StreamSpec> ListStreams() override;
  void Append(absl::string_view stream, Partition partition, std::vector<v1::Record> records,
              AppendDone done) override;
  absl::StatusOr<PartitionBounds> GetBounds(absl::string_view stream, Partition partition) override;
  absl::StatusOr<std::unique_ptr<PartitionReader>> OpenReader(absl::string_view stream,
                                                              Partition partition,
                                                              StartAt start) override;
  absl::StatusOr<std::unique_ptr<GroupMembership>> JoinGroup(
      absl::string_view stream, const GroupId& group, AssignmentCallback on_change) override;
  void CommitPosition(absl::string_view stream, const GroupId& group, Partition partition,
                      Offset offset, CommitDone done) override;
  absl::StatusOr<GroupPositions> GetPositions(absl::string_view stream,
                                              absl::string_view group_name) override;

 private:
  static absl::Status NoSuchStream(absl::string_view name) {
    return absl::NotFoundError(absl::StrCat("stream '", name, "' does not exist"));
  }

  fs::path StreamsDir() const { return data_dir_ / "streams"; }

  absl::StatusOr<std::shared_ptr<FileStream>> FindStream(absl::string_view name) {
    absl::MutexLock lock(&mu_);
    auto it = streams_.find(name);
    if (it == streams_.end()) {
      return NoSuchStream(name);
    }
    return it->second;
  }
  absl::StatusOr<std::shared_ptr<FilePartition>> FindPartition(absl::string_view stream,
                                                               Partition partition) {
    RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FileStream> s, FindStream(stream));
    if (partition < 0 || partition >= s->spec.partitions) {
      return absl::NotFoundError(
          absl::StrCat("stream '", stream, "' has no partition ", partition));
    }
    return s->partitions[partition];
  }

  // Queues `op` for the writer. UNAVAILABLE (closing) or RESOURCE_EXHAUSTED (queue full) leave
  // `op` untouched, for the caller to fail its callback.
  absl::Status Enqueue(Op& op);

  // The writer thread: takes every queued op, writes them, fsyncs each touched file once
  // (group commit), publishes, then runs the callbacks.
  void WriterLoop();
  void ProcessGroup(std::deque<Op>& ops);
  void SyncIntervalDirty();
  absl::Status WritePositionEntry(FileStream& stream, const CommitOp& op);
  void MaybeCompactPositions(FileStream& stream);
  bool QueueReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
    return !queue_.empty() || stopping_;
  }

  // The retention thread.
  void RetentionLoop(std::stop_token stop);
  void ApplyRetention();
  void KickRetention() {
    {
      std::lock_guard<std::mutex> lock(retention_mu_);
      retention_kick_ = true;
    }
    retention_cv_.notify_all();
  }

  const RecordStoreOptions::File options_;
  const FilePartition::Options partition_options_;
  const Clock* const clock_;
  const fs::path data_dir_;
  Fd lock_fd_;
  LocalGroupCoordinator coordinator_;
  std::atomic<uint64_t> trash_counter_{0};

  absl::Mutex control_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<FileStream>, std::less<>> streams_ ABSL_GUARDED_BY(mu_);

  absl::Mutex queue_mu_;
  std::deque<Op> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  // Writer-thread only: partitions written under kInterval and not yet fsynced.
  std::set<std::shared_ptr<FilePartition>> interval_dirty_;

  std::mutex retention_mu_;
  std::condition_variable_any retention_cv_;
  bool retention_kick_ = false;  // Guarded by retention_mu_.

  // Last members: the threads start after everything above exists, and the destructor joins
  // them explicitly before anything above goes away.
  std::thread writer_;
  std::jthread retention_;
};

absl::Status FileRecordStore::Recover() {
  std::error_code ec;
  for (const char* sub : {"streams", "tmp", "trash"}) {
    fs::create_directories(data_dir_ / sub, ec);
    if (ec) {
      return FsError("create directory", data_dir_ / sub, ec);
    }
  }
  // Leftovers of a create or delete that a crash interrupted.
  for (const char* sub : {"tmp", "trash"}) {
    for (fs::directory_iterator it(data_dir_ / sub, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code rm_ec;
      fs::remove_all(it->path(), rm_ec);
    }
  }
  ec.clear();
  for (fs::directory_iterator it(StreamsDir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory()) {
      continue;
    }
    absl::StatusOr<std::shared_ptr<FileStream>> stream =
        OpenStream(it->path().string(), partition_options_);
    if (!stream.ok()) {
      return absl::Status(stream.status().code(),
                          absl::StrCat("open stream '", it->path().filename().string(), "' in '",
                                       data_dir_.string(), "': ", stream.status().message()));
    }
    absl::MutexLock lock(&mu_);
    streams_[(*stream)->spec.name] = *std::move(stream);
  }
  if (ec) {
    return FsError("list streams", StreamsDir(), ec);
  }
  return absl::OkStatus();
}

void FileRecordStore::Start() {
  writer_ = std::thread([this] { WriterLoop(); });
  retention_ = std::jthread([this](std::stop_token stop) { RetentionLoop(stop); });
}

FileRecordStore::~FileRecordStore() {
  retention_.request_stop();
  retention_cv_.notify_all();
  if (retention_.joinable()) retention_.join();
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  // Closing wakes waiting readers, whose callbacks must not run under mu_.
  std::vector<std::shared_ptr<FileStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [name, stream] : streams_) streams.push_back(stream);
  }
  for (auto& stream : streams) {
    for (auto& p : stream->partitions) p->Close();
  }
}

absl::StatusOr<StreamSpec> FileRecordStore::CreateStream(const StreamSpec& requested) {
  RUNNEL_RETURN_IF_ERROR(ValidateStreamSpec(requested));
  absl::MutexLock control(&control_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (streams_.contains(requested.name)) {
      return absl::AlreadyExistsError(absl::StrCat("stream '", requested.name, "' already exists"));
    }
  }
  StreamSpec spec = requested;
  spec.created_unix_ms = absl::ToUnixMillis(clock_->Now());
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("create stream '", spec.name, "': ", s.message()));
  };
  // Built in tmp/ and renamed into streams/ so that a crash never leaves half a stream.
  const fs::path tmp = data_dir_ / "tmp" / spec.name;
  const fs::path final_path = StreamsDir() / spec.name;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) {
    return fail(FsError("create directory", tmp, ec));
  }
  {
    absl::StatusOr<int> dir = OpenDir(tmp.string());
    if (!dir.ok()) return fail(dir.status());
    Fd dir_fd(*dir);
    if (absl::Status s = WriteFileAtomically(dir_fd.get(), tmp.string(), "stream.meta",
                                             EncodeStreamMeta(spec));
        !s.ok()) {
      return fail(s);
    }
  }
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return fail(ErrnoError("rename", tmp.string(), errno));
  }
  {
    absl::StatusOr<int> dir = OpenDir(StreamsDir().string());
    if (!dir.ok()) return fail(dir.status());
    Fd dir_fd(*dir);
    if (absl::Status s = SyncFd(dir_fd.get(), StreamsDir().string(), false); !s.ok()) {
      return fail(s);
    }
  }
  absl::StatusOr<std::shared_ptr<FileStream>> stream =
      OpenStream(final_path.string(), partition_options_);
  if (!stream.ok()) {
    return fail(stream.status());
  }
  absl::MutexLock lock(&mu_);
  streams_[spec.name] = *stream;
  return spec;
}

absl::Status FileRecordStore::DeleteStream(absl::string_view name) {
  absl::MutexLock control(&control_mu_);
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FileStream> stream, FindStream(name));
  const fs::path trash =
      data_dir_ / "trash" / absl::StrCat(std::string(name), ".", trash_counter_++);
  // Renamed away first (atomic), then removed: a crash in between leaves only trash, which the
  // next open clears. The writer keeps working on open descriptors meanwhile, harmlessly.
  if (::rename(stream->path.c_str(), trash.c_str()) != 0) {
    return ErrnoError(absl::StrCat("delete stream '", name, "': rename"), stream->path, errno);
  }
  if (absl::StatusOr<int> dir = OpenDir(StreamsDir().string()); dir.ok()) {
    Fd dir_fd(*dir);
    (void)SyncFd(dir_fd.get(), StreamsDir().string(), false);
  }
  {
    absl::MutexLock lock(&mu_);
    streams_.erase(std::string(name));
  }
  {
    absl::MutexLock lock(&stream->mu);
    stream->deleted = true;
  }
  for (auto& p : stream->partitions) p->MarkDeleted();
  std::error_code ec;
  fs::remove_all(trash, ec);
  if (ec) {
    RUNNEL_LOG(WARNING) << "could not remove a deleted stream's files (cleared on next open)"
                        << Kv("path", trash.string()) << Kv("error", ec.message());
  }
  return absl::OkStatus();
}

absl::StatusOr<StreamSpec> FileRecordStore::GetStream(absl::string_view name) {
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FileStream> s, FindStream(name));
  return s->spec;
}

std::vector<StreamSpec> FileRecordStore::ListStreams() {
  absl::MutexLock lock(&mu_);
  std::vector<StreamSpec> out;
  for (const auto& [name, s] : streams_) out.push_back(s->spec);
  return out;
}

absl::Status FileRecordStore::Enqueue(Op& op) {
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    return absl::UnavailableError("the file record store is closing");
  }
  if (queue_.size() >= kMaxQueuedOps) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the file record store has ", queue_.size(), " writes pending"));
  }
  queue_.push_back(std::move(op));
  return absl::OkStatus();
}

void FileRecordStore::Append(absl::string_view stream, Partition partition,
                             std::vector<v1::Record> records, AppendDone done) {
  absl::StatusOr<std::shared_ptr<FilePartition>> p = FindPartition(stream, partition);
  if (!p.ok()) {
    std::move(done)(p.status());
    return;
  }
  // Serialised here, on the caller's thread, so that appends to many partitions encode in
  // parallel and the writer thread only copies bytes into the file.
  const int64_t now_ms = absl::ToUnixMillis(clock_->Now());
  AppendOp op{.partition = *std::move(p), .count = static_cast<uint32_t>(records.size()),
              .max_timestamp_ms = now_ms};
  size_t size = kBatchHeaderBytes;
  for (v1::Record& r : records) {
    r.set_timestamp_ms(now_ms);
    size += kRecordHeaderBytes + r.ByteSizeLong();
  }
  if (size > kMaxBatchBytes) {
    std::move(done)(absl::InvalidArgumentError(absl::StrCat(
        "append to stream '", stream, "' partition ", partition, ": batch of ", size,
        " bytes exceeds the limit of ", kMaxBatchBytes)));
    return;
  }
  op.batch.resize(size);
  char* out = op.batch.data() + kBatchHeaderBytes;
  for (const v1::Record& r : records) {
    const size_t len = r.ByteSizeLong();
    r.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out + kRecordHeaderBytes));
    PutFixed32(out, static_cast<uint32_t>(len));
    PutFixed32(out + 4, crc32c::Extend(0, out + kRecordHeaderBytes, len));
    out += kRecordHeaderBytes + len;
  }
  op.done = std::move(done);
  Op queued = std::move(op);
  if (absl::Status s = Enqueue(queued); !s.ok()) {
    std::move(std::get<AppendOp>(queued).done)(s);
  }
}

absl::StatusOr<PartitionBounds> FileRecordStore::GetBounds(absl::string_view stream,
                                                           Partition partition) {
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FilePartition> p, FindPartition(stream, partition));
  return p->Bounds();
}

absl::StatusOr<std::unique_ptr<PartitionReader>> FileRecordStore::OpenReader(
    absl::string_view stream, Partition partition, StartAt start) {
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FilePartition> p, FindPartition(stream, partition));
  return TailingReader::Open(std::move(p), start);
}

absl::StatusOr<std::unique_ptr<GroupMembership>> FileRecordStore::JoinGroup(
    absl::string_view stream, const GroupId& group, AssignmentCallback on_change) {
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FileStream> s, FindStream(stream));
  auto member =
      coordinator_.Join(std::string(stream), group, s->spec.partitions, std::move(on_change));
  return std::unique_ptr<GroupMembership>(new FileMembership(std::move(member), s->partitions));
}

void FileRecordStore::CommitPosition(absl::string_view stream, const GroupId& group,
                                     Partition partition, Offset offset, CommitDone done) {
  absl::StatusOr<std::shared_ptr<FileStream>> s = FindStream(stream);
  if (!s.ok()) {
    std::move(done)(s.status());
    return;
  }
  if (partition < 0 || partition >= (*s)->spec.partitions) {
    std::move(done)(
        absl::NotFoundError(absl::StrCat("stream '", stream, "' has no partition ", partition)));
    return;
  }
  if (group.name.size() > kMaxGroupNameBytes) {
    std::move(done)(absl::InvalidArgumentError(absl::StrCat(
        "commit position on stream '", stream, "': group name is longer than ",
        kMaxGroupNameBytes, " bytes")));
    return;
  }
  Op op = CommitOp{.stream = *std::move(s), .group = group, .partition = partition,
                   .offset = offset, .done = std::move(done)};
  if (absl::Status st = Enqueue(op); !st.ok()) {
    std::move(std::get<CommitOp>(op).done)(st);
  }
}

absl::StatusOr<GroupPositions> FileRecordStore::GetPositions(absl::string_view stream,
                                                             absl::string_view group_name) {
  RUNNEL_ASSIGN_OR_RETURN(std::shared_ptr<FileStream> s, FindStream(stream));
  absl::MutexLock lock(&s->mu);
  auto it = s->positions.find(group_name);
  if (it == s->positions.end()) {
    return GroupPositions{};
  }
  return it->second;
}

void FileRecordStore::WriterLoop() {
  const bool interval = options_.fsync == RecordStoreOptions::File::Fsync::kInterval;
  const absl::Duration sync_every = absl::Milliseconds(options_.fsync_interval_ms);
  absl::Time next_sync = absl::Now() + sync_every;
  for (;;) {
    std::deque<Op> ops;
    bool stopping;
    {
      absl::MutexLock lock(&queue_mu_);
      const absl::Condition ready(this, &FileRecordStore::QueueReady);
      if (interval && !interval_dirty_.empty()) {
        queue_mu_.AwaitWithDeadline(ready, next_sync);
      } else {
        queue_mu_.Await(ready);
      }
      ops.swap(queue_);
      stopping = stopping_;
    }
    ProcessGroup(ops);
    if (interval && (stopping || absl::Now() >= next_sync)) {
      SyncIntervalDirty();
      next_sync = absl::Now() + sync_every;
    }
    if (stopping) {
      // Enqueue refuses new ops once stopping_ is set, so the queue is empty for good.
      return;
    }
  }
}

void FileRecordStore::SyncIntervalDirty() {
  for (const auto& p : interval_dirty_) {
    if (absl::Status s = p->Sync(); !s.ok()) {
      RUNNEL_LOG(ERROR) << "background fsync failed; the partition is now read-only"
                        << Kv("path", p->path()) << Kv("error", s.message());
    }
  }
  interval_dirty_.clear();
}

absl::Status FileRecordStore::WritePositionEntry(FileStream& stream, const CommitOp& op) {
  if (stream.log_broken) {
    return absl::UnavailableError(absl::StrCat("commit position on stream '", stream.spec.name,
                                               "': its positions log failed earlier"));
  }
  const std::string entry = EncodePositionEntry(op.group, op.partition, op.offset);
  if (absl::Status s = WriteAll(stream.log_fd.get(), entry.data(), entry.size(), stream.log_bytes,
                                stream.log_path());
      !s.ok()) {
    if (!Truncate(stream.log_fd.get(), stream.log_bytes, stream.log_path()).ok()) {
      stream.log_broken = true;
    }
    return s;
  }
  stream.log_bytes += entry.size();
  ++stream.log_entries;
  return absl::OkStatus();
}

void FileRecordStore::MaybeCompactPositions(FileStream& stream) {
  if (stream.log_broken || stream.log_entries < kPositionsCompactMinEntries ||
      stream.log_entries < 4 * stream.live_entries) {
    return;
  }
  std::string contents;
  uint64_t entries = 0;
  {
    absl::MutexLock lock(&stream.mu);
    for (const auto& [name, versions] : stream.positions) {
      for (const auto& [version, partitions] : versions) {
        for (const auto& [partition, offset] : partitions) {
          contents += EncodePositionEntry({name, version}, partition, offset);
          ++entries;
        }
      }
    }
  }
  // Rewritten beside the log and renamed over it; the new file's descriptor becomes the log.
  const std::string tmp_path = stream.path + "/positions.log.tmp";
  absl::StatusOr<int> raw = OpenAt(stream.dir_fd.get(), "positions.log.tmp", tmp_path,
                                   O_RDWR | O_CREAT | O_TRUNC);
  absl::Status s = raw.status();
  Fd fd(raw.ok() ? *raw : -1);
  if (s.ok()) s = WriteAll(fd.get(), contents.data(), contents.size(), 0, tmp_path);
  if (s.ok()) s = SyncFd(fd.get(), tmp_path, /*data_only=*/false);
  if (s.ok() && ::renameat(stream.dir_fd.get(), "positions.log.tmp", stream.dir_fd.get(),
                           "positions.log") != 0) {
    s = ErrnoError("rename", tmp_path, errno);
  }
  if (s.ok()) s = SyncFd(stream.dir_fd.get(), stream.path, /*data_only=*/false);
  if (!s.ok()) {
    // The old log is intact (or already replaced by an equivalent one); try again later.
    RUNNEL_LOG(WARNING) << "could not compact a positions log" << Kv("path", stream.log_path())
                        << Kv("error", s.message());
    return;
  }
  stream.log_fd = std::move(fd);
  stream.log_bytes = contents.size();
  stream.log_entries = entries;
  stream.live_entries = entries;
}

void FileRecordStore::ProcessGroup(std::deque<Op>& ops) {
  const bool always = options_.fsync == RecordStoreOptions::File::Fsync::kAlways;
  std::vector<std::shared_ptr<FilePartition>> touched;
  std::vector<std::shared_ptr<FileStream>> touched_streams;
  std::vector<absl::Status> results(ops.size());
  std::vector<Offset> firsts(ops.size(), 0);
  bool rolled = false;

  // 1. Write.
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto* a = std::get_if<AppendOp>(&ops[i])) {
      if (a->partition->Deleted()) {
        results[i] = absl::NotFoundError(
            absl::StrCat("append to '", a->partition->path(), "': the stream was deleted"));
        continue;
      }
      absl::StatusOr<Offset> first =
          a->partition->WriteBatch(a->batch, a->count, a->max_timestamp_ms);
      if (first.ok()) {
        firsts[i] = *first;
        touched.push_back(a->partition);
        rolled |= a->partition->TakeRolled();
      } else {
        results[i] = first.status();
      }
    } else if (auto* c = std::get_if<CommitOp>(&ops[i])) {
      bool deleted;
      {
        absl::MutexLock lock(&c->stream->mu);
        deleted = c->stream->deleted;
      }
      if (deleted) {
        results[i] = absl::NotFoundError(
            absl::StrCat("stream '", c->stream->spec.name, "' does not exist"));
        continue;
      }
      results[i] = WritePositionEntry(*c->stream, *c);
      if (results[i].ok()) touched_streams.push_back(c->stream);
    } else if (auto* r = std::get_if<RollOp>(&ops[i])) {
      if (!r->partition->Deleted()) {
        if (absl::Status s = r->partition->RollIfNotEmpty(); !s.ok()) {
          RUNNEL_LOG(WARNING) << "could not roll an expired segment"
                              << Kv("path", r->partition->path()) << Kv("error", s.message());
        }
        rolled |= r->partition->TakeRolled();
      }
    }
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::sort(touched_streams.begin(), touched_streams.end());
  touched_streams.erase(std::unique(touched_streams.begin(), touched_streams.end()),
                        touched_streams.end());

  // 2. Sync: one fdatasync per touched file for the whole group (group commit).
  std::map<FilePartition*, absl::Status> sync_failed;
  for (const auto& p : touched) {
    if (always) {
      if (absl::Status s = p->Sync(); !s.ok()) sync_failed[p.get()] = s;
    } else {
      interval_dirty_.insert(p);
    }
  }
  std::map<FileStream*, absl::Status> log_failed;
  for (const auto& s : touched_streams) {
    if (absl::Status st = SyncFd(s->log_fd.get(), s->log_path()); !st.ok()) {
      s->log_broken = true;
      log_failed[s.get()] = st;
    }
  }

  // 3. Publish to readers and record positions.
  std::vector<std::pair<FilePartition*, Offset>> advanced;
  for (const auto& p : touched) {
    if (!sync_failed.contains(p.get())) advanced.emplace_back(p.get(), p->Publish());
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto* c = std::get_if<CommitOp>(&ops[i]); c != nullptr && results[i].ok()) {
      if (auto it = log_failed.find(c->stream.get()); it != log_failed.end()) {
        results[i] = it->second;
        continue;
      }
      absl::MutexLock lock(&c->stream->mu);
      auto [it, inserted] =
          c->stream->positions[c->group.name][c->group.version].insert_or_assign(c->partition,
                                                                                 c->offset);
      c->stream->live_entries += inserted ? 1 : 0;
    }
  }
  for (const auto& s : touched_streams) MaybeCompactPositions(*s);
  for (auto [p, end] : advanced) p->notifier().Advance(end);

  // 4. Callbacks, with no lock held.
  for (size_t i = 0; i < ops.size(); ++i) {
    if (auto* a = std::get_if<AppendOp>(&ops[i])) {
      if (results[i].ok()) {
        if (auto it = sync_failed.find(a->partition.get()); it != sync_failed.end()) {
          results[i] = it->second;
        }
      }
      if (results[i].ok()) {
        std::move(a->done)(firsts[i]);
      } else {
        std::move(a->done)(results[i]);
      }
    } else if (auto* c = std::get_if<CommitOp>(&ops[i])) {
      std::move(c->done)(results[i]);
    }
  }
  if (rolled && (options_.retention_bytes > 0 || options_.retention_ms > 0)) {
    // A roll is what makes an old segment deletable: check now rather than on the next tick.
    KickRetention();
  }
}

void FileRecordStore::RetentionLoop(std::stop_token stop) {
  // Age retention needs a periodic check; a tenth of the retention time (bounded) keeps a
  // partition at most ~10% past its limit without spinning for short test retentions.
  const auto period =
      options_.retention_ms == 0
          ? std::chrono::milliseconds(1000)
          : std::chrono::milliseconds(
                std::clamp<uint64_t>(options_.retention_ms / 10, 10, 1000));
  std::unique_lock<std::mutex> lock(retention_mu_);
  while (!stop.stop_requested()) {
    retention_cv_.wait_for(lock, stop, period, [this] { return retention_kick_; });
    retention_kick_ = false;
    if (stop.stop_requested()) {
      return;
    }
    lock.unlock();
    ApplyRetention();
    lock.lock();
  }
}

void FileRecordStore::ApplyRetention() {
  if (options_.retention_bytes == 0 && options_.retention_ms == 0) {
    return;
  }
  const int64_t cutoff_ms =
      options_.retention_ms == 0
          ? std::numeric_limits<int64_t>::min()
          : absl::ToUnixMillis(clock_->Now()) - static_cast<int64_t>(options_.retention_ms);
  std::vector<std::shared_ptr<FileStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, s] : streams_) streams.push_back(s);
  }
  for (const auto& stream : streams) {
    for (const auto& p : stream->partitions) {
      bool roll_active = false;
      for (const auto& segment :
           p->TakeExpired(options_.retention_bytes, cutoff_ms, &roll_active)) {
        p->UnlinkSegment(*segment);
      }
      if (roll_active) {
        Op op = RollOp{.partition = p};
        (void)Enqueue(op);  // When closing or full, the next pass tries again.
      }
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecordStore>> OpenFileRecordStore(
    const RecordStoreOptions::File& options, const Clock* clock) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("file record store: data_dir is empty");
  }
  if (options.segment_bytes < kMinSegmentBytes || options.segment_bytes > kMaxSegmentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("file record store: segment_bytes must be ",
                                                   kMinSegmentBytes, " to ", kMaxSegmentBytes,
                                                   ", got ", options.segment_bytes));
  }
  if (options.fsync == RecordStoreOptions::File::Fsync::kInterval &&
      options.fsync_interval_ms == 0) {
    return absl::InvalidArgumentError(
        "file record store: fsync_interval_ms must be positive with the interval fsync policy");
  }
  const fs::path dir(options.data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return FsError("create data directory", dir, ec);
  }
  const std::string lock_path = (dir / "LOCK").string();
  RUNNEL_ASSIGN_OR_RETURN(int lock_raw, OpenAt(AT_FDCWD, lock_path, lock_path, O_RDWR | O_CREAT));
  Fd lock_fd(lock_raw);
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return absl::UnavailableError(absl::StrCat("file record store: data directory '",
                                               options.data_dir,
                                               "' is in use by another store (LOCK is held)"));
  }
  auto store = std::make_unique<FileRecordStore>(options, clock, std::move(lock_fd));
  RUNNEL_RETURN_IF_ERROR(store->Recover());
  store->Start();
  return std::unique_ptr<RecordStore>(std::move(store));
}

}  // namespace runnel::gateway
