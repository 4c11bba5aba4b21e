#include "gateway/bridge/detail/sqlite.hpp"

#include "gateway/bridge/error.hpp"

namespace gw::bridge::detail {

std::error_code sqlite_error(int rc) noexcept {
  switch (rc & 0xff) {  // primary result code; extended codes keep it in the low byte
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return {};
    case SQLITE_FULL:
      return error::disk_full;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return error::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return error::corrupt;
    default:
      return error::storage_error;
  }
}

int exec(sqlite3* db, const char* sql) noexcept {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

int query_int64(sqlite3* db, const char* sql, std::int64_t& out) noexcept {
  statement st(db, sql);
  if (st.rc() != SQLITE_OK) return st.rc();
  int rc = st.step();
  if (rc == SQLITE_ROW) {
    out = st.column_int64(0);
    return SQLITE_OK;
  }
  return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

statement::statement(sqlite3* db, std::string_view sql) noexcept {
  rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    rc_ = other.rc_;
    other.stmt_ = nullptr;
  }
  return *this;
}

void statement::bind(int i, std::string_view v) noexcept {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void statement::bind(int i, std::span<const std::uint8_t> v) noexcept {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const std::uint8_t empty = 0;
  sqlite3_bind_blob(stmt_, i, v.empty() ? &empty : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

std::string statement::column_text(int i) const {
  auto* p = sqlite3_column_text(stmt_, i);
  auto n = sqlite3_column_bytes(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string{};
}

std::vector<std::uint8_t> statement::column_blob(int i) const {
  auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
  auto n = sqlite3_column_bytes(stmt_, i);
  return p ? std::vector<std::uint8_t>(p, p + n) : std::vector<std::uint8_t>{};
}

}  // namespace gw::bridge::detail
