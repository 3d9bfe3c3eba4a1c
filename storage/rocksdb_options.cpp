#include "storage/rocksdb_options.hpp"

#include "storage/store.hpp"

#include <rocksdb/slice_transform.h>

#include <memory>

namespace visitd::storage {

namespace {

// Keys of `events` and `outbox` end in a u64 sequence number (storage/keys.hpp), and each visit
// appends its next event right after its previous one. With this as the memtable's insert-hint
// extractor, RocksDB remembers per prefix (the key without its sequence number: one visit, or one
// visit under one endpoint) where it last inserted and starts the next insert there instead of
// searching the whole skiplist from the top, whose key comparisons were the single largest CPU
// cost of a commit with thousands of visits writing at once. Only where inserts go; reads,
// iterators and the data on disk are unaffected (it is not a prefix_extractor).
class without_trailing_sequence final : public rocksdb::SliceTransform {
public:
  static constexpr std::size_t sequence_bytes = 8;
  const char* Name() const override { return "visitd.without_trailing_sequence"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return {key.data(), key.size() - sequence_bytes};
  }
  bool InDomain(const rocksdb::Slice& key) const override { return key.size() > sequence_bytes; }
};

}  // namespace

rocksdb::ColumnFamilyOptions rocksdb_column_options(std::string_view name) {
  rocksdb::ColumnFamilyOptions options;
  if (name == column_name(column::events) || name == column_name(column::outbox)) {
    static const auto hint = std::make_shared<const without_trailing_sequence>();
    options.memtable_insert_with_hint_prefix_extractor = hint;
  }
  return options;
}

}  // namespace visitd::storage
