#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

// Minimal RAII over the SQLite C API, private to gw::bridge. No exceptions: every call returns a SQLite
// result code.
namespace gw::bridge::detail {

// Maps a SQLite result code to gw::bridge::error (success for SQLITE_OK/ROW/DONE).
std::error_code sqlite_error(int rc) noexcept;

struct db_close {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_close>;

// Runs one or more SQL statements without results.
int exec(sqlite3* db, const char* sql) noexcept;

// Runs a single-value query ("PRAGMA user_version"); returns the SQLite result code.
int query_int64(sqlite3* db, const char* sql, std::int64_t& out) noexcept;

class statement {
 public:
  statement() = default;
  // Prepares `sql`; rc() reports the result.
  statement(sqlite3* db, std::string_view sql) noexcept;
  statement(statement&& other) noexcept : stmt_(other.stmt_), rc_(other.rc_) { other.stmt_ = nullptr; }
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  int rc() const noexcept { return rc_; }
  bool valid() const noexcept { return stmt_ != nullptr; }

  // Bind parameters are 1-based, as in sqlite3_bind_*. Text and blobs are copied (SQLITE_TRANSIENT).
  void bind(int i, std::int64_t v) noexcept { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, std::string_view v) noexcept;
  void bind(int i, std::span<const std::uint8_t> v) noexcept;

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() noexcept { return sqlite3_step(stmt_); }
  // Resets and clears bindings for reuse.
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t column_int64(int i) const noexcept { return sqlite3_column_int64(stmt_, i); }
  std::string column_text(int i) const;
  std::vector<std::uint8_t> column_blob(int i) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_MISUSE;
};

}  // namespace gw::bridge::detail
