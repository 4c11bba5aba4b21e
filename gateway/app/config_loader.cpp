// The YAML configuration loader (shared/design.md §4). Every input may be hostile: unknown keys, duplicate
// keys, wrong types, out-of-range numbers and unresolvable secrets are all refused with `file:line:col: key:
// message`, and all problems are collected before one config_error is thrown. Secret values never enter a
// message.

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "gateway/app/config.hpp"

namespace gw::app {
namespace {

constexpr std::size_t max_errors = 200;
constexpr std::size_t max_secret_file_bytes = std::size_t{64} * 1024;

// A value as it may appear in a message: printable ASCII only, at most 64 characters, quoted.
std::string quote(std::string_view v) {
  std::string out = "\"";
  std::size_t n = 0;
  for (unsigned char c : v) {
    if (++n > 64) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out + "\"";
}

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

// One error with its position, so the list can be shown in document order.
struct located_error {
  std::size_t file;  // order in which files were opened
  int line;
  int col;
  std::string text;
};

struct error_list {
  std::vector<located_error> items;
  std::size_t files = 0;
};

// Collects errors of one file; several reporters may share one error list.
class reporter {
 public:
  reporter(std::string file, error_list& errors)
      : file_(std::move(file)), errors_(errors), index_(errors.files++) {}

  std::string where(const YAML::Mark& m) const {
    return file_ + ":" + std::to_string(line_of(m)) + ":" + std::to_string(col_of(m));
  }

  void error(const YAML::Mark& m, std::string_view path, std::string_view message) {
    if (errors_.items.size() >= max_errors) return;
    std::string e = where(m);
    e += ": ";
    if (!path.empty()) {
      e += path;
      e += ": ";
    }
    e += message;
    errors_.items.push_back({index_, line_of(m), col_of(m), std::move(e)});
  }

  void error(const YAML::Node& n, std::string_view path, std::string_view message) {
    error(n.Mark(), path, message);
  }

  const std::string& file() const { return file_; }
  std::size_t count() const { return errors_.items.size(); }

 private:
  static int line_of(const YAML::Mark& m) { return m.line < 0 ? 1 : m.line + 1; }
  static int col_of(const YAML::Mark& m) { return m.column < 0 ? 1 : m.column + 1; }

  std::string file_;
  error_list& errors_;
  std::size_t index_;
};

// The messages in document order (file, line, column), capped at max_errors.
std::vector<std::string> sorted_messages(error_list& errors) {
  std::stable_sort(errors.items.begin(), errors.items.end(),
                   [](const located_error& a, const located_error& b) {
                     return std::tie(a.file, a.line, a.col) < std::tie(b.file, b.line, b.col);
                   });
  std::vector<std::string> out;
  out.reserve(errors.items.size() + 1);
  for (auto& e : errors.items) out.push_back(std::move(e.text));
  if (out.size() >= max_errors)
    out.push_back("too many errors; the first " + std::to_string(max_errors) + " are shown");
  return out;
}

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "?";
}

// Reads one YAML map: each key may be taken once; finish() reports keys nobody took and duplicate keys.
class map_reader {
 public:
  map_reader(reporter& r, const YAML::Node& node, std::string path)
      : r_(r), node_(node), path_(std::move(path)) {
    if (node.IsNull()) return;  // an empty section: all defaults
    if (!node.IsMap()) {
      r_.error(node, path_, std::string("expected a map, got ") + type_name(node));
      ok_ = false;
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        r_.error(key, path_, "keys must be plain strings");
        continue;
      }
      const std::string& k = key.Scalar();
      auto dup = std::find_if(entries_.begin(), entries_.end(), [&](const entry& e) { return e.key == k; });
      if (dup != entries_.end()) {
        r_.error(key, join_path(path_, k), "duplicate key (first at " + r_.where(dup->key_node.Mark()) + ")");
        continue;
      }
      entries_.push_back({k, key, it->second, false});
    }
  }

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join_path(path_, key); }
  const YAML::Node& node() const { return node_; }

  std::optional<YAML::Node> get(std::string_view key) {
    for (auto& e : entries_) {
      if (e.key == key) {
        e.used = true;
        return e.value;
      }
    }
    return std::nullopt;
  }

  std::optional<YAML::Node> require(std::string_view key) {
    auto n = get(key);
    if (!n && ok_) r_.error(node_, path_, "missing required key \"" + std::string(key) + "\"");
    return n;
  }

  void finish() {
    for (const auto& e : entries_) {
      if (!e.used) r_.error(e.key_node, join_path(path_, e.key), "unknown key");
    }
  }

 private:
  struct entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool used;
  };
  reporter& r_;
  YAML::Node node_;
  std::string path_;
  bool ok_ = true;
  std::vector<entry> entries_;
};

// --- scalar parsers: each reports its own error and returns nullopt on failure ---

std::optional<std::string> as_string(reporter& r, const YAML::Node& n, std::string_view path) {
  if (n.IsNull()) return std::string();
  if (!n.IsScalar()) {
    r.error(n, path, std::string("expected a string, got ") + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<std::string> as_text(reporter& r, const YAML::Node& n, std::string_view path,
                                   std::string_view expected) {
  if (!n.IsScalar()) {
    r.error(n, path, "expected " + std::string(expected) + ", got " + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<bool> as_bool(reporter& r, const YAML::Node& n, std::string_view path) {
  auto t = as_text(r, n, path, "true or false");
  if (!t) return std::nullopt;
  if (*t == "true") return true;
  if (*t == "false") return false;
  r.error(n, path, "expected true or false, got " + quote(*t));
  return std::nullopt;
}

std::optional<std::uint64_t> as_uint(reporter& r, const YAML::Node& n, std::string_view path,
                                     std::uint64_t min, std::uint64_t max) {
  auto t = as_text(r, n, path, "an integer");
  if (!t) return std::nullopt;
  std::uint64_t v = 0;
  const std::string& text = *t;
  const char* first = text.data();
  const char* last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (t->empty() || ec == std::errc::invalid_argument || ptr != last) {
    r.error(n, path, "expected an integer, got " + quote(*t));
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || v < min || v > max) {
    r.error(
        n, path,
        "value " + quote(*t) + " out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return std::nullopt;
  }
  return v;
}

std::optional<double> as_double(reporter& r, const YAML::Node& n, std::string_view path, double min,
                                double max) {
  auto t = as_text(r, n, path, "a number");
  if (!t) return std::nullopt;
  double v = 0;
  const std::string& text = *t;
  const char* first = text.data();
  const char* last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (t->empty() || ec != std::errc{} || ptr != last || !std::isfinite(v)) {
    r.error(n, path, "expected a number, got " + quote(*t));
    return std::nullopt;
  }
  if (v < min || v > max) {
    std::ostringstream s;
    s << "value " << quote(*t) << " out of range [" << min << ", " << max << "]";
    r.error(n, path, s.str());
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::milliseconds> as_duration(reporter& r, const YAML::Node& n, std::string_view path,
                                                     std::chrono::milliseconds min,
                                                     std::chrono::milliseconds max) {
  auto t = as_text(r, n, path, "a duration");
  if (!t) return std::nullopt;
  auto d = parse_duration(*t);
  if (!d) {
    r.error(n, path, "expected a duration such as 500ms, 2s, 5m, 1h or 6d, got " + quote(*t));
    return std::nullopt;
  }
  if (*d < min || *d > max) {
    r.error(n, path,
            "duration " + quote(*t) + " out of range [" + std::to_string(min.count()) + "ms, " +
                std::to_string(max.count()) + "ms]");
    return std::nullopt;
  }
  return d;
}

std::optional<std::uint64_t> as_size(reporter& r, const YAML::Node& n, std::string_view path,
                                     std::uint64_t min) {
  auto t = as_text(r, n, path, "a size");
  if (!t) return std::nullopt;
  auto s = parse_size(*t);
  if (!s) {
    r.error(n, path, "expected a size such as 1024, 1KiB, 64MiB or 1GiB, got " + quote(*t));
    return std::nullopt;
  }
  if (*s < min) {
    r.error(n, path, "size " + quote(*t) + " is below the minimum of " + std::to_string(min) + " bytes");
    return std::nullopt;
  }
  return s;
}

template <typename E>
std::optional<E> as_enum(reporter& r, const YAML::Node& n, std::string_view path,
                         std::initializer_list<std::pair<std::string_view, E>> values) {
  std::string expected;
  for (const auto& [name, v] : values) {
    if (!expected.empty()) expected += ", ";
    expected += name;
  }
  auto t = as_text(r, n, path, "one of " + expected);
  if (!t) return std::nullopt;
  for (const auto& [name, v] : values) {
    if (*t == name) return v;
  }
  r.error(n, path, "unknown value " + quote(*t) + " (expected " + expected + ")");
  return std::nullopt;
}

// --- field setters: absent keys keep the default ---

void set(map_reader& m, reporter& r, std::string_view key, std::string& out) {
  if (auto n = m.get(key)) {
    if (auto v = as_string(r, *n, m.path(key))) out = std::move(*v);
  }
}
void set(map_reader& m, reporter& r, std::string_view key, bool& out) {
  if (auto n = m.get(key)) {
    if (auto v = as_bool(r, *n, m.path(key))) out = *v;
  }
}
template <typename T>
void set_uint(map_reader& m, reporter& r, std::string_view key, T& out, std::uint64_t min,
              std::uint64_t max) {
  if (auto n = m.get(key)) {
    if (auto v = as_uint(r, *n, m.path(key), min, max)) out = static_cast<T>(*v);
  }
}
template <typename Rep, typename Period>
void set_duration(map_reader& m, reporter& r, std::string_view key, std::chrono::duration<Rep, Period>& out,
                  std::chrono::milliseconds min, std::chrono::milliseconds max) {
  if (auto n = m.get(key)) {
    if (auto v = as_duration(r, *n, m.path(key), min, max)) {
      out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(*v);
    }
  }
}
void set_size(map_reader& m, reporter& r, std::string_view key, std::uint64_t& out, std::uint64_t min) {
  if (auto n = m.get(key)) {
    if (auto v = as_size(r, *n, m.path(key), min)) out = *v;
  }
}
template <typename E>
void set_enum(map_reader& m, reporter& r, std::string_view key, E& out,
              std::initializer_list<std::pair<std::string_view, E>> values) {
  if (auto n = m.get(key)) {
    if (auto v = as_enum(r, *n, m.path(key), values)) out = *v;
  }
}

// --- templates ---

// Replaces ${name} by vars[name]; returns the unknown variable's name in `unknown` and nullopt if any.
std::optional<std::string> expand(std::string_view tmpl,
                                  const std::map<std::string, std::string, std::less<>>& vars,
                                  std::string& unknown) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl.compare(i, 2, "${") == 0) {
      auto end = tmpl.find('}', i + 2);
      if (end == std::string_view::npos) {
        unknown = std::string(tmpl.substr(i));
        return std::nullopt;
      }
      auto name = tmpl.substr(i + 2, end - i - 2);
      auto it = vars.find(name);
      if (it == vars.end()) {
        unknown = "${" + std::string(name) + "}";
        return std::nullopt;
      }
      out += it->second;
      i = end + 1;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

// Checks that a template names only `allowed` variables (values are irrelevant here).
bool check_template(reporter& r, const YAML::Node& n, std::string_view path, std::string_view tmpl,
                    std::initializer_list<std::string_view> allowed) {
  std::map<std::string, std::string, std::less<>> vars;
  for (auto a : allowed) vars.emplace(std::string(a), "x");
  std::string unknown;
  if (expand(tmpl, vars, unknown)) return true;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "${" : ", ${") + std::string(a) + "}";
  r.error(n, path, "unknown template variable " + quote(unknown) + " (allowed: " + list + ")");
  return false;
}

// productKey / deviceName: the platform allows letters, digits and - _ . @ : (1..64 chars here).
bool valid_identity_part(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' || c == '@' ||
           c == ':';
  });
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

// --- secrets ---

struct load_state {
  std::filesystem::path base_dir;  // relative paths resolve here
  error_list errors;
  std::vector<std::string> warnings;
};

std::optional<std::string> read_secret_file(const std::filesystem::path& p, std::string& why) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    why = "cannot read " + quote(p.string());
    return std::nullopt;
  }
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > max_secret_file_bytes) {
      wipe_string(data);
      OPENSSL_cleanse(buf, sizeof buf);  // the last chunk read
      why = quote(p.string()) + " is larger than 64 KiB";
      return std::nullopt;
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (!data.empty() && data.back() == '\r') data.pop_back();
  return data;
}

// Resolves `value` (inline, ${env:NAME}, ${file:/path} or ${cred:NAME}). Errors never show the value.
bool resolve_secret(reporter& r, load_state& st, const YAML::Node& n, std::string_view path, secret& out,
                    secret_source& source) {
  if (!n.IsScalar()) {
    r.error(n, path, std::string("expected a string, got ") + type_name(n));
    return false;
  }
  const std::string& v = n.Scalar();
  if (v.size() >= 3 && v.compare(0, 2, "${") == 0 && v.back() == '}') {
    std::string_view ref(v.data() + 2, v.size() - 3);
    auto colon = ref.find(':');
    std::string_view scheme = colon == std::string_view::npos ? ref : ref.substr(0, colon);
    std::string_view arg = colon == std::string_view::npos ? std::string_view() : ref.substr(colon + 1);
    std::string why;
    std::optional<std::string> value;
    if (colon == std::string_view::npos || arg.empty() ||
        (scheme != "env" && scheme != "file" && scheme != "cred")) {
      r.error(n, path, "unknown secret reference (expected ${env:NAME}, ${file:/path} or ${cred:NAME})");
      return false;
    }
    if (scheme == "env") {
      const std::string name(arg);
      const char* e = std::getenv(name.c_str());
      if (e == nullptr) {
        r.error(n, path, "environment variable " + quote(name) + " is not set");
        return false;
      }
      value = std::string(e);
      source = secret_source::env;
    } else if (scheme == "file") {
      std::filesystem::path p(arg);
      if (p.is_relative()) p = st.base_dir / p;
      value = read_secret_file(p, why);
      source = secret_source::file;
    } else {
      const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
      if (dir == nullptr || *dir == '\0') {
        r.error(n, path,
                "${cred:" + std::string(arg) +
                    "} needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=), which is not set");
        return false;
      }
      if (arg.find('/') != std::string_view::npos || arg == "." || arg == "..") {
        r.error(n, path, "credential name " + quote(arg) + " must not contain '/'");
        return false;
      }
      value = read_secret_file(std::filesystem::path(dir) / arg, why);
      source = secret_source::credential;
    }
    if (!value) {
      r.error(n, path, "secret " + quote(v) + ": " + why);
      return false;
    }
    if (value->empty()) {
      r.error(n, path, "secret " + quote(v) + " is empty");
      return false;
    }
    out = secret(std::move(*value));
    wipe_string(*value);  // moved from, but a short secret's bytes stay in its own (SSO) buffer
    return true;
  }
  if (v.empty()) {
    r.error(n, path, "secret is empty");
    return false;
  }
  out = secret(v);
  source = secret_source::inline_value;
  return true;
}

// --- sections ---

void parse_mqtt(reporter& r, load_state& st, const YAML::Node& node, mqtt_config& c,
                std::vector<std::string>& inline_secrets) {
  map_reader m(r, node, "mqtt");
  if (!m.ok()) return;
  if (auto n = m.get("uri")) {
    if (auto v = as_string(r, *n, m.path("uri"))) {
      static constexpr std::string_view schemes[] = {"tcp://",   "ssl://", "mqtt://",
                                                     "mqtts://", "ws://",  "wss://"};
      bool ok = std::any_of(std::begin(schemes), std::end(schemes), [&](std::string_view s) {
        return v->size() > s.size() && v->compare(0, s.size(), s) == 0;
      });
      if (!ok || !printable(*v)) {
        r.error(*n, m.path("uri"),
                "expected tcp://, ssl://, mqtt://, mqtts://, ws:// or wss:// and a host, got " + quote(*v));
      } else {
        c.uri = *v;
      }
    }
  }
  if (auto n = m.get("client_id")) {
    if (auto v = as_string(r, *n, m.path("client_id"))) {
      if (v->empty() || v->size() > 256 || !printable(*v)) {
        r.error(*n, m.path("client_id"),
                "must be 1..256 printable characters (a stable id keeps the session)");
      } else {
        c.client_id = *v;
      }
    }
  }
  set(m, r, "username", c.username);
  if (auto n = m.get("password")) {
    if (!n->IsNull() && resolve_secret(r, st, *n, m.path("password"), c.password, c.password_source) &&
        c.password_source == secret_source::inline_value) {
      inline_secrets.push_back(m.path("password"));
    }
  }
  if (auto n = m.get("protocol")) {
    if (auto v = as_enum<mqtt_protocol>(r, *n, m.path("protocol"),
                                        {{"3.1.1", mqtt_protocol::v3_1_1}, {"5", mqtt_protocol::v5}})) {
      c.protocol = *v;
    }
  }
  set_uint(m, r, "qos", c.qos, 1, 2);
  set(m, r, "clean_session", c.clean_session);
  set_duration(m, r, "session_expiry", c.session_expiry, std::chrono::seconds(0),
               std::chrono::seconds(0xFFFFFFFFLL));
  set_uint(m, r, "receive_maximum", c.receive_maximum, 1, 65535);
  set_duration(m, r, "keep_alive", c.keep_alive, std::chrono::seconds(1), std::chrono::seconds(65535));
  set_duration(m, r, "connect_timeout", c.connect_timeout, std::chrono::seconds(1), std::chrono::hours(1));
  set_duration(m, r, "reconnect_min", c.reconnect_min, std::chrono::milliseconds(100), std::chrono::hours(1));
  set_duration(m, r, "reconnect_max", c.reconnect_max, std::chrono::milliseconds(100),
               std::chrono::hours(24));
  set_duration(m, r, "store_timeout", c.store_timeout, std::chrono::milliseconds(1),
               std::chrono::minutes(10));
  set_uint(m, r, "max_unstored", c.max_unstored, 1, 100000);
  set_uint(m, r, "max_backlog", c.max_backlog, 1, 10'000'000ULL);
  set_uint(m, r, "intake_priority", c.intake_priority, 0, 19);
  // While a delivery waits for its store, Paho's receive thread reads nothing, PINGRESP included.
  if (c.store_timeout >= c.keep_alive) {
    r.error(m.get("store_timeout").value_or(node), m.path("store_timeout"),
            "must be shorter than keep_alive");
  }
  if (c.reconnect_min > c.reconnect_max) {
    r.error(m.get("reconnect_min").value_or(node), m.path("reconnect_min"), "must not exceed reconnect_max");
  }
  if (auto n = m.get("status_topic")) {
    if (auto v = as_string(r, *n, m.path("status_topic"))) {
      if (check_template(r, *n, m.path("status_topic"), *v, {"clientId"})) c.status_topic = *v;
    }
  }
  if (auto n = m.get("tls")) {
    map_reader t(r, *n, m.path("tls"));
    if (t.ok()) {
      set(t, r, "ca_file", c.tls.ca_file);
      set(t, r, "cert_file", c.tls.cert_file);
      set(t, r, "key_file", c.tls.key_file);
      set(t, r, "verify", c.tls.verify);
      if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
        r.error(*n, t.path(), "cert_file and key_file must be given together");
      }
      t.finish();
    }
  }
  c.tls.enabled = !c.tls.ca_file.empty() || !c.tls.cert_file.empty() || c.uri.rfind("ssl://", 0) == 0 ||
                  c.uri.rfind("mqtts://", 0) == 0 || c.uri.rfind("wss://", 0) == 0;
  std::string unknown;
  c.status_topic = expand(c.status_topic, {{"clientId", c.client_id}}, unknown).value_or(c.status_topic);
  m.finish();
}

void parse_cloud(reporter& r, const YAML::Node& node, cloud_config& c) {
  map_reader m(r, node, "cloud");
  if (!m.ok()) return;
  if (auto n = m.get("region")) {
    if (auto v = as_string(r, *n, m.path("region"))) {
      if (!valid_identity_part(*v)) {
        r.error(*n, m.path("region"), "expected a region id such as cn-shanghai, got " + quote(*v));
      } else {
        c.region = *v;
      }
    }
  }
  if (auto n = m.get("host")) {
    if (auto v = as_string(r, *n, m.path("host"))) {
      if (v->empty()) {
        r.error(*n, m.path("host"), "must not be empty");
      } else if (check_template(r, *n, m.path("host"), *v, {"productKey", "deviceName", "region"})) {
        c.host = *v;
      }
    }
  }
  set(m, r, "address", c.address);
  set_uint(m, r, "port", c.port, 1, 65535);
  set_enum(m, r, "mode", c.mode,
           {{"dtls", cloud_mode::dtls},
            {"dtls-psk", cloud_mode::dtls_psk},
            {"aes", cloud_mode::aes},
            {"plain", cloud_mode::plain}});
  set(m, r, "ca_file", c.ca_file);
  set_enum(m, r, "content_format", c.content,
           {{"json", content_format::json}, {"cbor", content_format::cbor}});
  if (auto n = m.get("ack_mode")) {
    if (auto v = as_enum<int>(r, *n, m.path("ack_mode"), {{"0", 0}, {"1", 1}})) c.ack_mode = *v;
  }
  set_enum(m, r, "sign_method", c.sign,
           {{"hmacmd5", sign_method::hmacmd5},
            {"hmacsha1", sign_method::hmacsha1},
            {"hmacsha256", sign_method::hmacsha256}});
  if (auto n = m.get("token_option")) {
    if (auto v = as_enum<std::uint16_t>(r, *n, m.path("token_option"), {{"2088", 2088}, {"61", 61}})) {
      c.token_option = *v;
    }
  }
  if (auto n = m.get("accept")) {
    using acc = std::optional<std::uint16_t>;
    if (auto v = as_enum<acc>(r, *n, m.path("accept"),
                              {{"none", acc{}}, {"42", acc{42}}, {"50", acc{50}}, {"60", acc{60}}})) {
      c.accept = *v;
    }
  }
  if (auto n = m.get("client_id")) {
    if (auto v = as_string(r, *n, m.path("client_id"))) {
      if (v->empty()) {
        r.error(*n, m.path("client_id"), "must not be empty");
      } else if (check_template(r, *n, m.path("client_id"), *v, {"productKey", "deviceName", "pk", "dn"})) {
        c.client_id = *v;
      }
    }
  }
  set_enum(m, r, "first_seq", c.first_seq,
           {{"offset_plus_one", first_seq_rule::offset_plus_one}, {"offset", first_seq_rule::offset}});
  set(m, r, "treat_4_02_as_token_invalid", c.treat_4_02_as_token_invalid);
  set(m, r, "drop_empty_payloads", c.drop_empty_payloads);
  set(m, r, "send_timestamp", c.send_timestamp);
  set(m, r, "send_signmethod", c.send_signmethod);
  if (auto n = m.get("max_payload")) {
    // A UDP datagram carries at most 65507 bytes; there is no Block-wise transfer (spec §7).
    if (auto v = as_size(r, *n, m.path("max_payload"), 1)) {
      if (*v > 65000) {
        r.error(*n, m.path("max_payload"), "must not exceed 65000 bytes (no Block-wise transfer, spec §7)");
      } else {
        c.max_payload = static_cast<std::size_t>(*v);
      }
    }
  }
  set_uint(m, r, "psk_timestamp", c.psk_timestamp, 0, 99999999999999ULL);
  set_uint(m, r, "max_in_flight", c.max_in_flight, 1, 10000000);
  if (auto n = m.get("coap")) {
    map_reader t(r, *n, m.path("coap"));
    if (t.ok()) {
      auto& p = c.coap;
      set_duration(t, r, "ack_timeout", p.ack_timeout, std::chrono::milliseconds(10),
                   std::chrono::minutes(5));
      if (auto f = t.get("ack_random_factor")) {
        if (auto v = as_double(r, *f, t.path("ack_random_factor"), 1.0, 10.0)) p.ack_random_factor = *v;
      }
      set_uint(t, r, "max_retransmit", p.max_retransmit, 0, 20);
      set_uint(t, r, "nstart", p.nstart, 1, 64);
      set_duration(t, r, "auth_timeout", p.auth_timeout, std::chrono::milliseconds(100),
                   std::chrono::minutes(10));
      set(t, r, "send_uri_host", p.send_uri_host);
      set(t, r, "resume_on_answer", p.resume_on_answer);
      if (auto f = t.get("resume_rate_per_s")) {
        if (auto v = as_double(r, *f, t.path("resume_rate_per_s"), 1.0, 1000000.0)) p.resume_rate_per_s = *v;
      }
      t.finish();
    }
  }
  if (auto n = m.get("auth")) {
    map_reader t(r, *n, m.path("auth"));
    if (t.ok()) {
      auto& a = c.auth;
      if (auto f = t.get("rate_per_s")) {
        if (auto v = as_double(r, *f, t.path("rate_per_s"), 0.001, 100000.0)) a.rate_per_s = *v;
      }
      if (auto f = t.get("token_refresh_after")) {
        // spec §6: a token lives 7 days; refreshing later would use a dead token.
        if (auto v = as_duration(r, *f, t.path("token_refresh_after"), std::chrono::minutes(1),
                                 std::chrono::hours(24 * 7) - std::chrono::milliseconds(1))) {
          a.token_refresh_after = *v;
        }
      }
      if (auto b = t.get("backoff")) {
        map_reader bm(r, *b, t.path("backoff"));
        if (bm.ok()) {
          set_duration(bm, r, "initial", a.backoff.initial, std::chrono::milliseconds(1),
                       std::chrono::hours(1));
          set_duration(bm, r, "max", a.backoff.max, std::chrono::milliseconds(1), std::chrono::hours(24));
          set(bm, r, "jitter", a.backoff.jitter);
          if (a.backoff.initial > a.backoff.max) r.error(*b, bm.path(), "initial must not exceed max");
          bm.finish();
        }
      }
      t.finish();
    }
  }
  m.finish();
}

struct device_index {
  std::unordered_map<std::string, std::string> where;  // id -> "file:line:col"
};

void parse_device(reporter& r, load_state& st, const YAML::Node& node, const std::string& path,
                  const cloud_config& cloud, device_index& index, std::vector<device_config>& out,
                  std::vector<std::string>& inline_secrets) {
  map_reader m(r, node, path);
  if (!m.ok()) return;
  if (node.IsNull()) {
    r.error(node, path, "expected a device map, got nothing");
    return;
  }
  device_config d;
  d.source = r.where(node.Mark());
  bool ok = true;
  auto identity = [&](std::string_view key, std::string& field) {
    auto n = m.require(key);
    if (!n) {
      ok = false;
      return;
    }
    auto v = as_string(r, *n, m.path(key));
    if (!v) {
      ok = false;
    } else if (!valid_identity_part(*v)) {
      r.error(*n, m.path(key), "expected 1..64 letters, digits or - _ . @ :, got " + quote(*v));
      ok = false;
    } else {
      field = *v;
    }
  };
  identity("product_key", d.product_key);
  identity("device_name", d.device_name);
  d.mode = cloud.mode;
  set_enum(m, r, "mode", d.mode,
           {{"dtls", cloud_mode::dtls},
            {"dtls-psk", cloud_mode::dtls_psk},
            {"aes", cloud_mode::aes},
            {"plain", cloud_mode::plain}});
  if (auto n = m.get("device_secret")) {
    if (resolve_secret(r, st, *n, m.path("device_secret"), d.device_secret, d.secret_from)) {
      if (d.secret_from == secret_source::inline_value) inline_secrets.push_back(m.path("device_secret"));
    } else {
      ok = false;
    }
  } else if (d.mode != cloud_mode::plain) {
    r.error(node, path,
            "missing required key \"device_secret\" (mode " + std::string(to_string(d.mode)) + ")");
    ok = false;
  }
  std::optional<YAML::Node> id_node = m.get("id");
  if (id_node) {
    auto v = as_string(r, *id_node, m.path("id"));
    if (!v) {
      ok = false;
    } else if (v->empty() || v->size() > 256 || !printable(*v) || v->find("${") != std::string::npos) {
      r.error(*id_node, m.path("id"), "must be 1..256 printable characters without ${, got " + quote(*v));
      ok = false;
    } else {
      d.id = *v;
    }
  }
  std::string client_tmpl = cloud.client_id;
  YAML::Node client_node = node;
  if (auto n = m.get("client_id")) {
    if (auto v = as_string(r, *n, m.path("client_id"))) {
      if (v->empty()) {
        r.error(*n, m.path("client_id"), "must not be empty");
        ok = false;
      } else if (check_template(r, *n, m.path("client_id"), *v, {"productKey", "deviceName", "pk", "dn"})) {
        client_tmpl = *v;
        client_node = *n;
      } else {
        ok = false;
      }
    }
  }
  std::string host_tmpl = cloud.host;
  if (auto n = m.get("host")) {
    if (auto v = as_string(r, *n, m.path("host"))) {
      if (v->empty()) {
        r.error(*n, m.path("host"), "must not be empty");
      } else if (check_template(r, *n, m.path("host"), *v, {"productKey", "deviceName", "region"})) {
        host_tmpl = *v;
      }
    }
  }
  d.address = cloud.address;
  set(m, r, "address", d.address);
  d.port = cloud.port;
  set_uint(m, r, "port", d.port, 1, 65535);
  m.finish();
  if (!ok) return;

  if (d.id.empty()) d.id = d.product_key + "/" + d.device_name;
  std::string unknown;
  std::map<std::string, std::string, std::less<>> vars{{"productKey", d.product_key},
                                                       {"deviceName", d.device_name},
                                                       {"pk", d.product_key},
                                                       {"dn", d.device_name},
                                                       {"region", cloud.region}};
  d.client_id = expand(client_tmpl, vars, unknown).value_or(client_tmpl);
  if (d.client_id.size() > 64) {
    r.error(client_node, m.path("client_id"),
            "resulting clientId " + quote(d.client_id) + " is longer than 64 characters (spec §4.1)");
    return;
  }
  d.host = expand(host_tmpl, vars, unknown).value_or(host_tmpl);
  if (d.address.empty()) d.address = d.host;
  if (d.port == 0) d.port = default_port(d.mode);

  const YAML::Node& at = id_node ? *id_node : node;
  auto [it, inserted] = index.where.emplace(d.id, r.where(at.Mark()));
  if (!inserted) {
    r.error(at, id_node ? m.path("id") : path,
            "duplicate device id " + quote(d.id) + " (first at " + it->second + ")");
    return;
  }
  out.push_back(std::move(d));
}

void parse_devices(reporter& r, load_state& st, const YAML::Node& node, std::string_view path,
                   const cloud_config& cloud, device_index& index, std::vector<device_config>& out,
                   std::vector<std::string>& inline_secrets) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, path, std::string("expected a list of devices, got ") + type_name(node));
    return;
  }
  out.reserve(out.size() + node.size());
  std::size_t i = 0;
  for (const auto& d : node) {
    parse_device(r, st, d, std::string(path) + "[" + std::to_string(i++) + "]", cloud, index, out,
                 inline_secrets);
  }
}

void parse_routes(reporter& r, const YAML::Node& node, std::vector<route_config>& out) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, "routes", std::string("expected a list of routes, got ") + type_name(node));
    return;
  }
  std::size_t i = 0;
  for (const auto& rn : node) {
    const std::string path = "routes[" + std::to_string(i++) + "]";
    map_reader m(r, rn, path);
    if (!m.ok()) continue;
    if (rn.IsNull()) {
      r.error(rn, path, "expected a route map, got nothing");
      continue;
    }
    route_config rc;
    rc.source = r.where(rn.Mark());
    bool ok = true;
    for (auto [key, field] : {std::pair<std::string_view, std::string*>{"from", &rc.from},
                              {"device", &rc.device},
                              {"to", &rc.to}}) {
      auto n = m.require(key);
      if (!n) {
        ok = false;
        continue;
      }
      auto v = as_string(r, *n, m.path(key));
      if (!v) {
        ok = false;
      } else if (v->empty()) {
        r.error(*n, m.path(key), "must not be empty");
        ok = false;
      } else {
        *field = *v;
      }
    }
    if (auto n = m.get("to"); n && !rc.to.empty() && rc.to.front() != '/') {
      r.error(*n, m.path("to"), "cloud topic must start with '/', got " + quote(rc.to));
      ok = false;
    }
    set_enum(m, r, "payload_format", rc.format,
             {{"passthrough", payload_format::passthrough}, {"cbor", payload_format::cbor}});
    m.finish();
    if (ok) out.push_back(std::move(rc));
  }
}

void parse_queue(reporter& r, const YAML::Node& node, queue_config& c) {
  map_reader m(r, node, "queue");
  if (!m.ok()) return;
  if (auto n = m.get("dir")) {
    if (auto v = as_string(r, *n, m.path("dir"))) {
      if (v->empty()) {
        r.error(*n, m.path("dir"), "must not be empty");
      } else {
        c.dir = *v;
      }
    }
  }
  set_size(m, r, "max_bytes_per_device", c.max_bytes_per_device, 1024);
  set_uint(m, r, "max_messages_per_device", c.max_messages_per_device, 1, 1'000'000'000ULL);
  set_duration(m, r, "max_age", c.max_age, std::chrono::seconds(1), std::chrono::hours(24 * 365));
  set_size(m, r, "max_total_bytes", c.max_total_bytes, 1024);
  set_enum(m, r, "when_full", c.when_full,
           {{"reject_new", when_full_policy::reject_new}, {"drop_oldest", when_full_policy::drop_oldest}});
  set_enum(m, r, "sync", c.sync, {{"normal", sync_mode::normal}, {"full", sync_mode::full}});
  set(m, r, "intake_journal", c.intake_journal);
  m.finish();
}

void parse_health(reporter& r, const YAML::Node& node, health_config& c) {
  map_reader m(r, node, "health");
  if (!m.ok()) return;
  if (auto n = m.get("http")) {
    if (auto v = as_string(r, *n, m.path("http"))) {
      auto colon = v->rfind(':');
      std::uint64_t port = 0;
      bool ok = v->empty();
      if (!ok && colon != std::string::npos && colon > 0 && colon + 1 < v->size()) {
        auto [ptr, ec] = std::from_chars(v->data() + colon + 1, v->data() + v->size(), port);
        ok = ec == std::errc{} && ptr == v->data() + v->size() && port <= 65535 && printable(*v);
      }
      if (ok) {
        c.http = *v;
      } else {
        r.error(*n, m.path("http"), "expected host:port (e.g. 127.0.0.1:9880) or empty, got " + quote(*v));
      }
    }
  }
  if (auto n = m.get("mqtt_topic")) {
    if (auto v = as_string(r, *n, m.path("mqtt_topic"))) {
      if (v->find_first_of("+#") != std::string::npos) {
        r.error(*n, m.path("mqtt_topic"), "a topic to publish must not contain + or #");
      } else if (check_template(r, *n, m.path("mqtt_topic"), *v, {"productKey", "deviceName", "deviceId"})) {
        c.mqtt_topic = *v;
      }
    }
  }
  set_duration(m, r, "interval", c.interval, std::chrono::seconds(1), std::chrono::hours(24));
  if (auto n = m.get("ready_share")) {
    if (auto v = as_double(r, *n, m.path("ready_share"), 0.0, 1.0)) c.ready_share = *v;
  }
  m.finish();
}

void parse_log(reporter& r, const YAML::Node& node, log_config& c) {
  map_reader m(r, node, "log");
  if (!m.ok()) return;
  set_enum(m, r, "level", c.level,
           {{"trace", log_level::trace},
            {"debug", log_level::debug},
            {"info", log_level::info},
            {"warn", log_level::warn},
            {"error", log_level::error},
            {"critical", log_level::critical},
            {"off", log_level::off}});
  set_enum(m, r, "format", c.format, {{"text", log_format::text}, {"json", log_format::json}});
  m.finish();
}

void parse_shard(reporter& r, const YAML::Node& node, std::optional<shard_config>& out) {
  if (node.IsNull()) return;
  auto t = as_text(r, node, "shard", "\"i/n\"");
  if (!t) return;
  const std::string& text = *t;
  auto slash = text.find('/');
  unsigned i = 0;
  unsigned n = 0;
  bool ok = slash != std::string::npos && slash > 0;
  if (ok) {
    const char* end = text.data() + text.size();
    auto [p1, e1] = std::from_chars(text.data(), text.data() + slash, i);
    auto [p2, e2] = std::from_chars(text.data() + slash + 1, end, n);
    ok = e1 == std::errc{} && p1 == text.data() + slash && e2 == std::errc{} && p2 == end &&
         slash + 1 < text.size();
  }
  if (!ok) {
    r.error(node, "shard", "expected \"i/n\" (e.g. \"0/4\"), got " + quote(*t));
    return;
  }
  if (n == 0 || i >= n || n > 65536) {
    r.error(node, "shard", "expected 0 <= i < n <= 65536, got " + quote(*t));
    return;
  }
  out = shard_config{i, n};
}

std::vector<YAML::Node> parse_yaml(reporter& r, std::string_view text) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    return docs;
  } catch (const YAML::Exception& e) {
    r.error(e.mark, "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    r.error(YAML::Mark::null_mark(), "", std::string("YAML error: ") + e.what());
  }
  return {};
}

// Loads one document; std::nullopt if it is not usable (errors reported).
std::optional<YAML::Node> single_document(reporter& r, std::string_view text) {
  auto docs = parse_yaml(r, text);
  if (docs.empty()) {
    if (r.count() == 0) r.error(YAML::Mark::null_mark(), "", "empty document");
    return std::nullopt;
  }
  if (docs.size() > 1) {
    r.error(docs[1].Mark(), "", "more than one YAML document");
    return std::nullopt;
  }
  return docs[0];
}

void warn_if_readable(load_state& st, const std::filesystem::path& file, const std::string& name,
                      const std::vector<std::string>& inline_secrets) {
  if (inline_secrets.empty() || file.empty()) return;
  struct stat sb {};
  if (::stat(file.c_str(), &sb) != 0) return;
  if ((sb.st_mode & (S_IRGRP | S_IROTH)) == 0) return;
  std::string keys;
  for (const auto& k : inline_secrets) {
    if (!keys.empty()) keys += ", ";
    if (keys.size() > 200) {
      keys += "...";
      break;
    }
    keys += k;
  }
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(sb.st_mode & 07777));
  st.warnings.push_back(name + ": inline secrets (" + keys + ") in a file readable by group/others (mode " +
                        mode + "); chmod 600 it or use ${env:NAME}, ${file:/path} or ${cred:NAME}");
}

std::optional<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

config load(std::string_view text, const std::string& name, const std::filesystem::path& file,
            std::filesystem::path base_dir) {
  load_state st;
  st.base_dir = std::move(base_dir);
  reporter r(name, st.errors);
  config c;
  auto root = single_document(r, text);
  if (root) {
    map_reader top(r, *root, "");
    if (!top.ok() || root->IsNull()) {
      if (top.ok()) r.error(*root, "", "the configuration is empty");
    } else {
      std::vector<std::string> inline_secrets;
      if (auto n = top.get("mqtt")) parse_mqtt(r, st, *n, c.mqtt, inline_secrets);
      if (auto n = top.get("cloud")) parse_cloud(r, *n, c.cloud);
      device_index index;
      if (auto n = top.get("devices"))
        parse_devices(r, st, *n, "devices", c.cloud, index, c.devices, inline_secrets);
      warn_if_readable(st, file, name, inline_secrets);
      if (auto n = top.get("devices_file")) {
        auto v = as_string(r, *n, "devices_file");
        if (v && !v->empty()) {
          std::filesystem::path p(*v);
          if (p.is_relative()) p = st.base_dir / p;
          c.devices_file = p.string();
          auto dtext = read_file(p);
          if (!dtext) {
            r.error(*n, "devices_file", "cannot read " + quote(p.string()));
          } else {
            reporter dr(p.string(), st.errors);
            if (auto droot = single_document(dr, *dtext)) {
              std::vector<std::string> dinline;
              if (droot->IsMap()) {
                // The same schema as the main file's devices key: `devices: [...]`.
                map_reader dm(dr, *droot, "");
                if (auto dl = dm.require("devices")) {
                  parse_devices(dr, st, *dl, "devices", c.cloud, index, c.devices, dinline);
                }
                dm.finish();
              } else {
                parse_devices(dr, st, *droot, "devices", c.cloud, index, c.devices, dinline);
              }
              warn_if_readable(st, p, p.string(), dinline);
            }
          }
        }
      }
      if (auto n = top.get("routes")) {
        parse_routes(r, *n, c.routes);
        // A fixed device id (not a template) must name a configured device.
        if (n->IsSequence()) {
          std::size_t i = 0;
          for (const auto& rn : *n) {
            const std::string path = "routes[" + std::to_string(i++) + "].device";
            if (!rn.IsMap()) continue;
            for (auto it = rn.begin(); it != rn.end(); ++it) {
              if (!it->first.IsScalar() || it->first.Scalar() != "device" || !it->second.IsScalar()) continue;
              const std::string& dev = it->second.Scalar();
              if (!dev.empty() && dev.find("${") == std::string::npos && index.where.count(dev) == 0) {
                r.error(it->second, path, "no configured device has id " + quote(dev));
              }
              break;
            }
          }
        }
      }
      if (auto n = top.get("queue")) parse_queue(r, *n, c.queue);
      if (auto n = top.get("health")) parse_health(r, *n, c.health);
      if (auto n = top.get("log")) parse_log(r, *n, c.log);
      if (auto n = top.get("shard")) parse_shard(r, *n, c.shard);
      top.finish();
      if (c.devices.empty() && st.errors.items.empty()) {
        r.error(*root, "devices", "no devices configured (devices or devices_file)");
      }
      if (c.routes.empty() && st.errors.items.empty()) {
        st.warnings.push_back(name + ": no routes configured: nothing will be forwarded");
      }
    }
  }
  if (!st.errors.items.empty()) throw config_error(sorted_messages(st.errors));
  c.warnings = std::move(st.warnings);
  return c;
}

}  // namespace

config load_config(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) throw config_error({path.string() + ": cannot read the file"});
  auto base = path.parent_path();
  if (base.empty()) base = ".";
  return load(*text, path.string(), path, base);
}

config load_config_from_string(std::string_view text, std::string_view name) {
  return load(text, std::string(name), {}, std::filesystem::current_path());
}

}  // namespace gw::app
