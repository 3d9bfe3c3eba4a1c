#include "storage/outbox.hpp"
#include "storage/rocksdb_options.hpp"
#include "storage/store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <mutex>
#include <shared_mutex>

namespace visitd::storage {

using domain::errc;
using domain::make_error;

// -- durability and column names ---------------------------------------------

domain::result<durability> parse_durability(std::string_view text) {
  if (text == "sync") return durability::sync;
  if (text == "relaxed") return durability::relaxed;
  return make_error(errc::invalid_argument, "durability must be \"sync\" or \"relaxed\", got \"" +
                                              std::string{text} + "\"");
}

std::string_view to_string(durability mode) noexcept {
  return mode == durability::sync ? "sync" : "relaxed";
}

namespace {

constexpr std::array column_names{
  std::string_view{"meta"},         std::string_view{"tenants"},
  std::string_view{"endpoints"},    std::string_view{"endpoint_by_url"},
  std::string_view{"accounts"},     std::string_view{"visits"},
  std::string_view{"events"},       std::string_view{"outbox"},
  std::string_view{"audit"},        std::string_view{"reports"},
  std::string_view{"dead_letters"},
};

constexpr std::string_view schema_version_key = "schema_version";

/// RocksDB counts every key comparison, memtable insert and block read in a per-thread perf
/// context unless told not to (its default level is kEnableCount). visitd never reads those
/// counters, and on the journal thread they cost about 40 us of a 330 us commit: two thread-local
/// look-ups through the shared library per key comparison (docs/benchmarks.md, "join->subscriber
/// latency"). The level is per thread, so each thread that reaches the store sets it once.
void without_perf_counters() {
  static thread_local const bool disabled = [] {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    return true;
  }();
  (void)disabled;
}

domain::error to_error(const rocksdb::Status& status, std::string_view what) {
  return make_error(errc::storage_failure, std::string{what} + ": " + status.ToString());
}

}  // namespace

const std::vector<column>& all_columns() {
  static const std::vector<column> columns = [] {
    std::vector<column> out;
    for (std::size_t i = 0; i < column_names.size(); ++i) out.push_back(static_cast<column>(i));
    return out;
  }();
  return columns;
}

std::string_view column_name(column c) noexcept {
  return column_names[static_cast<std::size_t>(c)];
}

// -- RocksDB implementation ----------------------------------------------------

namespace {

class rocksdb_store final : public store {
public:
  rocksdb_store(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
                durability mode)
    : db_(std::move(db)), handles_(std::move(handles)) {
    write_options_.sync = mode == durability::sync;
  }

  ~rocksdb_store() override { (void)close(); }

  domain::result<std::string> get(column c, std::string_view key) const override {
    without_perf_counters();
    std::shared_lock lock{mutex_};
    if (!db_) return make_error(errc::unavailable, "store is closed");
    std::string value;
    auto status = db_->Get(rocksdb::ReadOptions{}, handle(c), key, &value);
    if (status.IsNotFound())
      return make_error(errc::not_found, "no key in column " + std::string{column_name(c)});
    if (!status.ok()) return to_error(status, "read failed");
    return value;
  }

  domain::result<void> write(std::span<const write_op> ops) override {
    // Sized up front: a group commit holds hundreds of ops, and letting the batch's buffer grow
    // by doubling copied it several times per commit on the journal thread.
    std::size_t bytes = batch_header_bytes;
    for (const auto& op : ops) bytes += op.key.size() + op.value.size() + per_op_overhead_bytes;
    rocksdb::WriteBatch batch{bytes};
    for (const auto& op : ops) {
      rocksdb::Status status;
      switch (op.kind) {
        case op_kind::put: status = batch.Put(handle(op.c), op.key, op.value); break;
        case op_kind::erase: status = batch.Delete(handle(op.c), op.key); break;
        case op_kind::erase_range:
          status = batch.DeleteRange(handle(op.c), op.key, op.value);
          break;
      }
      if (!status.ok()) return to_error(status, "building a write batch failed");
    }
    without_perf_counters();
    std::shared_lock lock{mutex_};
    if (!db_) return make_error(errc::unavailable, "store is closed");
    auto status = db_->Write(write_options_, &batch);
    if (!status.ok()) return to_error(status, "batch write failed");
    return {};
  }

  domain::result<void> scan_from(column c, std::string_view prefix, std::string_view start,
                                 const scan_visitor& visit) const override {
    without_perf_counters();
    std::shared_lock lock{mutex_};
    if (!db_) return make_error(errc::unavailable, "store is closed");
    rocksdb::ReadOptions options;
    options.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(options, handle(c))};
    // An empty prefix/start means "from the first key": never hand RocksDB a Slice made from an
    // empty string_view, whose null data pointer reaches memcmp (UBSan: null argument).
    auto from = start > prefix ? start : prefix;
    if (from.empty())
      it->SeekToFirst();
    else
      it->Seek(rocksdb::Slice{from.data(), from.size()});
    for (; it->Valid(); it->Next()) {
      auto key = it->key();
      if (!prefix.empty() && !key.starts_with(rocksdb::Slice{prefix.data(), prefix.size()})) break;
      if (!visit(key.ToStringView(), it->value().ToStringView())) break;
    }
    if (!it->status().ok()) return to_error(it->status(), "scan failed");
    return {};
  }

  domain::result<void> check() const override {
    auto version = get(column::meta, schema_version_key);
    if (!version) return std::move(version).err();
    return {};
  }

  domain::result<void> close() override {
    // Exclusive: waits for in-flight reads and writes, which hold the lock shared.
    std::unique_lock lock{mutex_};
    if (!db_) return {};
    auto flushed = db_->FlushWAL(/*sync=*/true);
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    auto closed = db_->Close();
    db_.reset();
    if (!flushed.ok()) return to_error(flushed, "flushing the WAL at close failed");
    if (!closed.ok()) return to_error(closed, "closing the store failed");
    return {};
  }

private:
  // WriteBatch's layout: a 12-byte header, then per op a tag byte, the column family id and the
  // key and value lengths as varints (a few bytes each for our sizes) before the bytes.
  static constexpr std::size_t batch_header_bytes = 12;
  static constexpr std::size_t per_op_overhead_bytes = 16;

  rocksdb::ColumnFamilyHandle* handle(column c) const {
    return handles_[static_cast<std::size_t>(c)];
  }

  mutable std::shared_mutex mutex_;
  std::unique_ptr<rocksdb::DB> db_;
  // Indexed by `column`; entries past the known columns belong to families a newer build made.
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
};

domain::result<void> check_or_record_schema(store& s) {
  auto existing = s.get(column::meta, schema_version_key);
  if (!existing) {
    if (existing.err().code != errc::not_found) return std::move(existing).err();
    return s.put(column::meta, schema_version_key, std::to_string(schema_version));
  }
  int version = 0;
  const auto& text = *existing;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc{} || end != text.data() + text.size())
    return make_error(errc::storage_failure, "schema version record is corrupt: \"" + text + "\"");
  if (version > schema_version)
    return make_error(errc::storage_failure,
                      "store has schema version " + text + ", newer than this build's " +
                        std::to_string(schema_version) + ": refusing to open it");
  if (version == 1) {
    // Version 2 keeps a write-back cursor per visit instead of an outbox entry per item
    // (storage/outbox.hpp): open visits get theirs, with the new version, in one group.
    auto ops = missing_cursor_ops(s);
    if (!ops) return std::move(ops).err();
    static_assert(schema_version == 2, "a newer schema needs its own step from version 2");
    ops->push_back({column::meta, std::string{schema_version_key}, std::to_string(schema_version)});
    return s.write(*ops);
  }
  return {};
}

}  // namespace

domain::result<std::unique_ptr<store>> open_rocksdb_store(const store_options& options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;

  // Open every family on disk too (a newer build may have added some): RocksDB refuses to open
  // a database without naming all of its column families.
  std::vector<std::string> names(column_names.begin(), column_names.end());
  std::vector<std::string> on_disk;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.path, &on_disk).ok()) {
    for (auto& name : on_disk) {
      if (name != rocksdb::kDefaultColumnFamilyName &&
          std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(name);
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions{});
  for (auto& name : names) descriptors.emplace_back(name, rocksdb_column_options(name));

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(db_options, options.path, descriptors, &handles, &raw);
  if (!status.ok()) return to_error(status, "opening the store at " + options.path + " failed");
  std::unique_ptr<rocksdb::DB> db{raw};

  // The default family is unused: drop its handle so handles_ is indexed by `column`.
  (void)db->DestroyColumnFamilyHandle(handles.front());
  handles.erase(handles.begin());

  auto result = std::make_unique<rocksdb_store>(std::move(db), std::move(handles), options.mode);
  if (auto schema = check_or_record_schema(*result); !schema) return std::move(schema).err();
  return std::unique_ptr<store>{std::move(result)};
}

}  // namespace visitd::storage
