#include "gateway/bridge/error.hpp"

#include <string>

namespace gw::bridge {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bridge"; }

  std::string message(int ev) const override {
    switch (static_cast<error>(ev)) {
      case error::no_route:
        return "no route matches the topic";
      case error::unknown_device:
        return "route matched an unknown device";
      case error::bad_topic:
        return "invalid cloud topic";
      case error::not_json:
        return "payload is not JSON";
      case error::oversize:
        return "payload exceeds the maximum size";
      case error::queue_full:
        return "device queue full";
      case error::disk_cap:
        return "queue disk cap reached";
      case error::disk_full:
        return "queue database full";
      case error::io_error:
        return "queue database I/O error";
      case error::corrupt:
        return "queue database corrupt";
      case error::storage_error:
        return "queue database error";
      case error::schema_too_new:
        return "queue database schema is newer than this gateway";
      case error::not_found:
        return "message not found";
      case error::closed:
        return "queue closed";
      case error::too_deep:
        return "payload JSON nests too deep";
    }
    return "unknown bridge error";
  }
};

}  // namespace

const std::error_category& bridge_category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), bridge_category()};
}

}  // namespace gw::bridge
