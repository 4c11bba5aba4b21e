#pragma once
// Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/) of a
// gateway_report: every family has one HELP and one TYPE line before its samples; names match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label values are escaped (\\, \", \n). Label cardinality is bounded: per-device
// series are written for at most `max_device_series` devices (the first ones in configuration order);
// gateway totals are always written, and gw_device_series_truncated says whether devices were left out.

#include <cstddef>
#include <string>
#include <string_view>

#include "gateway/app/health_report.hpp"

namespace gw::app {

inline constexpr std::size_t default_max_device_series = 1000;

std::string render_metrics(const gateway_report& r,
                           std::size_t max_device_series = default_max_device_series);

// "a\"b" -> a\"b: the label value escaping of the text format.
std::string escape_label_value(std::string_view v);

}  // namespace gw::app
