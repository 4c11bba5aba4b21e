#pragma once
// A strict parser of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), for tests: every sample's family has
// exactly one HELP and one TYPE line before its first sample; a family's samples are contiguous; metric and
// label names match the grammar; label values use only the \\ \" \n escapes; values are floats, NaN or ±Inf;
// no sample (name + label set) appears twice; counters end in _total; the text ends with a newline. Any
// violation is reported with its line number.

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace gw::test {

struct prom_sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct prom_family {
  std::string type;
  std::string help;
  std::vector<prom_sample> samples;
};

struct prom_document {
  std::map<std::string, prom_family> families;
  std::string error;  // empty when the text is valid

  // The value of `name` with exactly these labels, if present.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    auto it = families.find(name);
    if (it == families.end()) return std::nullopt;
    for (const auto& s : it->second.samples) {
      if (s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
};

inline prom_document parse_prometheus(const std::string& text) {
  prom_document doc;
  static const std::regex metric_name("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_name("[a-zA-Z_][a-zA-Z0-9_]*");
  static const std::set<std::string> types{"counter", "gauge", "histogram", "summary", "untyped"};
  if (text.empty() || text.back() != '\n') {
    doc.error = "the text does not end with a newline";
    return doc;
  }
  std::set<std::string> closed;  // families whose samples ended
  std::string current;           // family of the previous line
  std::set<std::string> seen_samples;
  std::istringstream in(text);
  std::string line;
  int no = 0;
  auto fail = [&](const std::string& why) {
    doc.error = "line " + std::to_string(no) + ": " + why + ": " + line;
    return doc;
  };
  auto switch_to = [&](const std::string& family) -> bool {
    if (family == current) return true;
    if (closed.count(family) != 0) return false;
    if (!current.empty()) closed.insert(current);
    current = family;
    return true;
  };
  while (std::getline(in, line)) {
    ++no;
    if (line.empty()) return fail("empty line");
    if (line[0] == '#') {
      std::istringstream ls(line);
      std::string hash, kind, name;
      ls >> hash >> kind >> name;
      if (hash != "#" || (kind != "HELP" && kind != "TYPE")) return fail("comment that is not HELP or TYPE");
      if (!std::regex_match(name, metric_name)) return fail("bad metric name");
      if (!switch_to(name)) return fail("family reappears after another");
      auto& f = doc.families[name];
      std::string rest;
      std::getline(ls, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      if (kind == "HELP") {
        if (!f.help.empty()) return fail("second HELP");
        if (!f.samples.empty()) return fail("HELP after samples");
        if (rest.empty()) return fail("empty HELP");
        f.help = rest;
      } else {
        if (!f.type.empty()) return fail("second TYPE");
        if (!f.samples.empty()) return fail("TYPE after samples");
        if (types.count(rest) == 0) return fail("unknown type");
        f.type = rest;
      }
      continue;
    }
    // name{labels} value
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name = line.substr(0, i);
    if (!std::regex_match(name, metric_name)) return fail("bad metric name");
    prom_sample sample;
    std::string key = name + "{";
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i >= line.size()) return fail("unterminated label set");
        if (line[i] == '}') {
          ++i;
          break;
        }
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) return fail("label without =");
        const std::string lname = line.substr(i, eq - i);
        if (!std::regex_match(lname, label_name) || lname.rfind("__", 0) == 0) return fail("bad label name");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') return fail("label value not quoted");
        ++i;
        std::string value;
        while (true) {
          if (i >= line.size()) return fail("unterminated label value");
          const char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return fail("dangling escape");
            const char e = line[i++];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              return fail("bad escape");
          } else {
            value += c;
          }
        }
        if (sample.labels.count(lname) != 0) return fail("duplicate label");
        sample.labels[lname] = value;
        key += lname + "=" + value + ",";
        if (i < line.size() && line[i] == ',')
          ++i;
        else if (i < line.size() && line[i] != '}')
          return fail("junk after label value");
      }
    }
    if (i >= line.size() || line[i] != ' ') return fail("no space before the value");
    const std::string value_text = line.substr(i + 1);
    if (value_text.empty() || value_text.find(' ') != std::string::npos)
      return fail("bad value (or a timestamp)");
    if (value_text == "NaN") {
      sample.value = std::numeric_limits<double>::quiet_NaN();
    } else if (value_text == "+Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else if (value_text == "-Inf") {
      sample.value = -std::numeric_limits<double>::infinity();
    } else {
      char* end = nullptr;
      errno = 0;
      sample.value = std::strtod(value_text.c_str(), &end);
      if (errno != 0 || end != value_text.c_str() + value_text.size() ||
          value_text.find_first_of("iInN") != std::string::npos) {
        return fail("value is not a number");
      }
    }
    if (!switch_to(name)) return fail("samples of a family are not contiguous");
    auto it = doc.families.find(name);
    if (it == doc.families.end() || it->second.type.empty() || it->second.help.empty()) {
      return fail("sample before its HELP and TYPE");
    }
    if (it->second.type == "counter" && (name.size() < 7 || name.substr(name.size() - 6) != "_total")) {
      return fail("counter not ending in _total");
    }
    if (!seen_samples.insert(key).second) return fail("duplicate sample");
    it->second.samples.push_back(std::move(sample));
  }
  for (const auto& [name, f] : doc.families) {
    if (f.samples.empty()) {
      doc.error = "family " + name + " has HELP/TYPE but no sample";
      return doc;
    }
  }
  return doc;
}

}  // namespace gw::test
