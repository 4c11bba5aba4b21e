#pragma once
// GET / : a self-contained HTML status page (no external assets, no inline event handlers). Its script
// fetches /devices every 2 s and renders one row per device: state (coloured), queue depth, last error and
// token age. Rows carry data-device and data-state attributes, so a test can read what was rendered.

#include <string_view>

namespace gw::app {

std::string_view status_page_html() noexcept;

}  // namespace gw::app
