#pragma once

// The RocksDB column-family options the store opens each column family with. Public (within
// storage/ and the benchmarks) so a raw RocksDB baseline in bench/ can use exactly the same
// configuration as the store it is compared with.

#include <rocksdb/options.h>

#include <string_view>

namespace visitd::storage {

/// The options of the column family named `name` (store.hpp's column names).
[[nodiscard]] rocksdb::ColumnFamilyOptions rocksdb_column_options(std::string_view name);

}  // namespace visitd::storage
