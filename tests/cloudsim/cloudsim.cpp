// cloudsim: the platform side of Alibaba Cloud IoT Platform's CoAP access (shared/protocol/alibaba-coap.md),
// built on libcoap so that the gateway's own CoAP codec is checked against an independent stack.
// Modes: AES ("symmetric encryption", plain UDP), DTLS-PSK, DTLS with a certificate, plain (no auth).
// Fault injection from flags and from a control socket; see tests/cloudsim/README.md.

#include <coap3/coap.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tests/cloudsim/sim_crypto.hpp"

namespace gw::cloudsim {
namespace {

using json = nlohmann::json;

// spec §5.1 / §12: token in 2088 (doc) or 61 (iotkit v3); 2089 = AES(seq); 2090 = platform message id.
constexpr std::uint16_t opt_token = 2088;
constexpr std::uint16_t opt_token_legacy = 61;
constexpr std::uint16_t opt_seq = 2089;
constexpr std::uint16_t opt_message_id = 2090;

// A response code written as in the spec: rc(401) = 4.01.
constexpr coap_pdu_code_t rc(int n) {
  return static_cast<coap_pdu_code_t>(((n / 100) << 5) | (n % 100));
}

enum class mode { aes, psk, cert, plain };

const char* mode_name(mode m) {
  switch (m) {
    case mode::aes:
      return "aes";
    case mode::psk:
      return "dtls-psk";
    case mode::cert:
      return "dtls";
    case mode::plain:
      return "plain";
  }
  return "?";
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t now_ms() {
  return now_us() / 1000;
}

struct options {
  int aes_port = -1;
  int psk_port = -1;
  int cert_port = -1;
  int plain_port = -1;
  std::string cert_file;
  std::string key_file;
  std::string registry_file;
  std::string jsonl_file;
  std::string stats_file;
  std::string control_path;
  std::uint64_t seed = 1;
  std::int64_t token_lifetime_s = 7 * 24 * 3600;  // spec §6: 7 days
  unsigned session_timeout_s = 300;               // libcoap idle CoAP/DTLS session timeout
  std::optional<std::uint32_t> seq_offset;        // fixed seqOffset instead of a random one
  bool seq_allow_equal = false;
  bool plaintext_errors = false;
  bool separate = false;
  bool verbose = false;
  std::string ack_payload;
  std::string fixed_token;   // every /auth issues this token (reproduces spec §10's publish datagram)
  std::string fixed_random;  // every AES /auth issues this random
  // Faults at start (also settable at run time).
  double drop_requests = 0;
  double drop_responses = 0;
  double error_500 = 0;
  int delay_ms = 0;
};

struct device {
  std::string product_key;
  std::string device_name;
  std::string secret;
};

struct token_session {
  std::string product_key;
  std::string device_name;
  mode issued_in = mode::aes;
  aes_key key{};
  std::uint32_t seq_offset = 0;
  std::int64_t expires_ms = 0;
  bool separate = false;
  std::unordered_map<std::uint32_t, std::size_t> seen_seq;  // seq -> hash of the plaintext payload
};

struct device_counters {
  std::uint64_t auth_ok = 0;
  std::uint64_t auth_failed = 0;
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t duplicates = 0;
};

struct counters {
  std::uint64_t auth_ok = 0;
  std::map<std::string, std::uint64_t> auth_failed;
  std::uint64_t accepted = 0;
  std::map<std::string, std::uint64_t> rejected;
  std::uint64_t duplicates = 0;
  std::map<std::string, std::uint64_t> duplicates_by;
  std::map<std::string, std::uint64_t> faults;
  std::uint64_t requests = 0;
  std::unordered_map<std::string, device_counters> per_device;
};

struct endpoint_info;

// The whole emulator: registry, tokens, faults, counters. One instance, driven by one thread.
class simulator {
 public:
  explicit simulator(options opt)
      : opt_(std::move(opt)), rng_(opt_.seed), fault_rng_(opt_.seed ^ 0x5eedf00dULL) {}

  bool load_registry(std::string& error);
  bool open_outputs(std::string& error);
  bool start_endpoints(std::string& error);
  int run();

  // Request handling (libcoap callbacks land here).
  void on_request(endpoint_info& ep, coap_session_t* session, const coap_pdu_t* request,
                  coap_pdu_t* response);
  const coap_bin_const_t* on_psk_identity(const coap_bin_const_t* identity);
  void on_event(coap_event_t event);

 private:
  struct reply {
    coap_pdu_code_t code = rc(205);
    std::string payload;  // already in wire form (encrypted in AES mode when required)
    bool json_payload = false;
    std::optional<std::string> message_id;
  };

  reply do_auth(endpoint_info& ep, coap_session_t* session, std::string_view body, bool& separate);
  reply do_publish(endpoint_info& ep, const coap_pdu_t* request, const std::vector<std::string>& path,
                   bool& separate);
  reply reject(const std::string& reason, coap_pdu_code_t code, const std::string& diagnostic,
               const std::string& device_key);
  reply auth_fail(const std::string& reason, coap_pdu_code_t code, const std::string& device_key);
  bool chance(double p);
  std::string random_hex(std::size_t n);
  void record(const token_session* ts, mode m, const std::string& pk, const std::string& dn,
              const std::string& topic, const std::string& payload, std::optional<std::uint32_t> seq,
              bool dup, const std::string& message_id);
  std::string handle_command(const std::string& line);
  json stats_json(bool per_device) const;
  void write_stats(bool to_stderr);
  void reset_faults();
  bool silent() const { return now_ms() < silent_until_ms_; }
  coap_context_t* make_context(endpoint_info& ep, std::string& error);
  void tune_socket_buffers(std::uint16_t port);
  void restart_contexts();

  options opt_;
  std::mt19937_64 rng_;
  std::mt19937_64 fault_rng_;
  std::unordered_map<std::string, device> devices_;  // "pk/dn" -> device
  std::unordered_set<std::string> product_keys_;
  std::unordered_map<std::string, token_session> tokens_;
  std::unordered_map<std::string, std::unordered_set<std::string>> seen_ids_;  // "pk/dn" -> payload ids
  std::uint64_t next_message_id_ = 1;
  counters counters_;
  std::FILE* jsonl_ = nullptr;
  std::int64_t refuse_auth_until_ms_ = 0;
  std::int64_t silent_until_ms_ = 0;
  double drop_requests_ = 0;
  double drop_responses_ = 0;
  double error_500_ = 0;
  int delay_ms_ = 0;
  std::vector<std::unique_ptr<endpoint_info>> endpoints_;
  // Answers waiting in a libcoap async (separate responses); owned here so none leaks if a session goes
  // first.
  std::unordered_map<const void*, std::unique_ptr<reply>> pending_;
  std::string psk_storage_;
  coap_bin_const_t psk_result_{};
  int epoll_fd_ = -1;
  bool restart_requested_ = false;
};

struct endpoint_info {
  simulator* sim = nullptr;
  mode m = mode::plain;
  std::uint16_t port = 0;
  coap_context_t* ctx = nullptr;
  int coap_fd = -1;
};

std::string key_of(std::string_view pk, std::string_view dn) {
  std::string k(pk);
  k += '/';
  k += dn;
  return k;
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80         ? 0
                    : (c >> 5) == 6  ? 1
                    : (c >> 4) == 14 ? 2
                    : (c >> 3) == 30 ? 3
                                     : std::string::npos;
    if (n == std::string::npos || i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

bool simulator::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(fault_rng_) < p;
}

std::string simulator::random_hex(std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(digits[rng_() & 15]);
  return out;
}

// Registry: one device per line, either a JSON object {"productKey","deviceName","deviceSecret"} or CSV
// "productKey,deviceName,deviceSecret". Blank lines and lines starting with '#' are skipped.
bool simulator::load_registry(std::string& error) {
  if (opt_.registry_file.empty()) return true;
  std::ifstream in(opt_.registry_file);
  if (!in) {
    error = "cannot open registry " + opt_.registry_file;
    return false;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    device d;
    if (line[0] == '{') {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("productKey") || !j.contains("deviceName") ||
          !j.contains("deviceSecret")) {
        error = opt_.registry_file + ":" + std::to_string(line_no) + ": bad JSON device line";
        return false;
      }
      d.product_key = j["productKey"].get<std::string>();
      d.device_name = j["deviceName"].get<std::string>();
      d.secret = j["deviceSecret"].get<std::string>();
    } else {
      auto c1 = line.find(',');
      auto c2 = c1 == std::string::npos ? c1 : line.find(',', c1 + 1);
      if (c2 == std::string::npos) {
        error = opt_.registry_file + ":" + std::to_string(line_no) +
                ": expected productKey,deviceName,deviceSecret";
        return false;
      }
      d.product_key = line.substr(0, c1);
      d.device_name = line.substr(c1 + 1, c2 - c1 - 1);
      d.secret = line.substr(c2 + 1);
    }
    product_keys_.insert(d.product_key);
    devices_[key_of(d.product_key, d.device_name)] = std::move(d);
  }
  return true;
}

bool simulator::open_outputs(std::string& error) {
  if (!opt_.jsonl_file.empty()) {
    jsonl_ = std::fopen(opt_.jsonl_file.c_str(), "a");
    if (jsonl_ == nullptr) {
      error = "cannot open " + opt_.jsonl_file;
      return false;
    }
  }
  drop_requests_ = opt_.drop_requests;
  drop_responses_ = opt_.drop_responses;
  error_500_ = opt_.error_500;
  delay_ms_ = opt_.delay_ms;
  return true;
}

void simulator::reset_faults() {
  drop_requests_ = 0;
  drop_responses_ = 0;
  error_500_ = 0;
  delay_ms_ = 0;
  refuse_auth_until_ms_ = 0;
  silent_until_ms_ = 0;
}

simulator::reply simulator::auth_fail(const std::string& reason, coap_pdu_code_t code,
                                      const std::string& device_key) {
  ++counters_.auth_failed[reason];
  if (!device_key.empty()) {
    auto it = devices_.find(device_key);
    if (it != devices_.end()) ++counters_.per_device[device_key].auth_failed;
  }
  if (opt_.verbose)
    std::fprintf(stderr, "cloudsim: auth failed (%s) %s\n", reason.c_str(), device_key.c_str());
  reply r;
  r.code = code;
  if (opt_.plaintext_errors) r.payload = "auth failed: " + reason;
  return r;
}

simulator::reply simulator::reject(const std::string& reason, coap_pdu_code_t code,
                                   const std::string& diagnostic, const std::string& device_key) {
  ++counters_.rejected[reason];
  if (!device_key.empty() && devices_.count(device_key) != 0) ++counters_.per_device[device_key].rejected;
  if (opt_.verbose) std::fprintf(stderr, "cloudsim: rejected (%s) %s\n", reason.c_str(), device_key.c_str());
  reply r;
  r.code = code;
  if (opt_.plaintext_errors) r.payload = diagnostic;
  return r;
}

std::string json_value_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// spec §4: POST /auth with a JSON body; sign = HMAC over the sorted key+value string of every field except
// sign, signmethod, version, resources (§4.2). Unknown device and bad sign: 4.01; bad request: 4.00 (doc
// Table 5).
simulator::reply simulator::do_auth(endpoint_info& ep, coap_session_t* session, std::string_view body,
                                    bool& separate) {
  if (now_ms() < refuse_auth_until_ms_) {
    ++counters_.faults["refused_auth"];
    return auth_fail("refused", rc(500), {});
  }
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return auth_fail("bad_json", rc(400), {});
  for (const char* field : {"productKey", "deviceName", "clientId", "sign"}) {
    if (!j.contains(field) || !j[field].is_string()) return auth_fail("missing_field", rc(400), {});
  }
  std::string pk = j["productKey"].get<std::string>();
  std::string dn = j["deviceName"].get<std::string>();
  std::string dkey = key_of(pk, dn);
  if (j["clientId"].get<std::string>().size() > 64) return auth_fail("bad_client_id", rc(400), dkey);
  std::string method;
  if (j.contains("signmethod")) {
    if (!j["signmethod"].is_string()) return auth_fail("bad_signmethod", rc(400), dkey);
    method = j["signmethod"].get<std::string>();
  }
  std::map<std::string, std::string> fields;  // std::string compares bytes as unsigned char: spec §4.2 order
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "sign" || it.key() == "signmethod" || it.key() == "version" || it.key() == "resources")
      continue;
    fields[it.key()] = json_value_text(it.value());
  }
  std::string to_sign;
  for (const auto& [k, v] : fields) to_sign += k + v;
  auto dev = devices_.find(dkey);
  if (dev == devices_.end()) return auth_fail("unknown_device", rc(401), {});
  auto expected = hmac_hex(method, dev->second.secret, to_sign);
  if (!expected) return auth_fail("bad_signmethod", rc(400), dkey);
  if (!equal_ignore_case(*expected, j["sign"].get<std::string>())) {
    return auth_fail("bad_sign", rc(401), dkey);
  }
  if (ep.m == mode::psk) {
    // spec §8: the PSK identity names the device; an /auth for another device on that session is refused.
    const coap_bin_const_t* id = coap_session_get_psk_identity(session);
    std::string identity = id ? std::string(reinterpret_cast<const char*>(id->s), id->length) : std::string();
    if (identity.find("|" + pk + "&" + dn + "|") == std::string::npos) {
      return auth_fail("psk_identity_mismatch", rc(401), dkey);
    }
  }

  token_session ts;
  ts.product_key = pk;
  ts.device_name = dn;
  ts.issued_in = ep.m;
  ts.expires_ms = now_ms() + opt_.token_lifetime_s * 1000;
  if (j.contains("ackMode")) {
    const json& a = j["ackMode"];
    ts.separate =
        (a.is_number_integer() && a.get<int>() == 1) || (a.is_string() && a.get<std::string>() == "1");
  }
  separate = ts.separate || opt_.separate;
  json out;
  std::string token = opt_.fixed_token.empty() ? random_hex(32) : opt_.fixed_token;
  if (ep.m == mode::aes) {
    std::string random = opt_.fixed_random.empty() ? random_hex(16) : opt_.fixed_random;
    if (opt_.fixed_token.empty())
      token += "." + random.substr(0, 4);  // shape of the doc's example (spec §4.3)
    ts.key = derive_key(dev->second.secret, random);
    ts.seq_offset = opt_.seq_offset ? *opt_.seq_offset : static_cast<std::uint32_t>(1 + rng_() % 1000);
    out["random"] = random;
    out["seqOffset"] = ts.seq_offset;
  }
  out["token"] = token;
  tokens_[token] = std::move(ts);
  ++counters_.auth_ok;
  ++counters_.per_device[dkey].auth_ok;
  if (opt_.verbose) std::fprintf(stderr, "cloudsim: auth ok %s mode=%s\n", dkey.c_str(), mode_name(ep.m));
  reply r;
  r.payload = out.dump();
  r.json_payload = true;
  return r;
}

std::optional<std::string> option_value(const coap_pdu_t* pdu, std::uint16_t number) {
  coap_opt_iterator_t it;
  coap_opt_t* opt = coap_check_option(pdu, number, &it);
  if (opt == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(coap_opt_value(opt)), coap_opt_length(opt));
}

// spec §5: POST /topic/<mqtt topic>, token in 2088 (or 61), in AES mode seq in 2089 and an encrypted payload.
simulator::reply simulator::do_publish(endpoint_info& ep, const coap_pdu_t* request,
                                       const std::vector<std::string>& path, bool& separate) {
  std::string topic;
  for (std::size_t i = 1; i < path.size(); ++i) topic += "/" + path[i];
  if (topic.empty()) return reject("no_topic", rc(404), "no topic", {});
  for (std::size_t i = 1; i < path.size(); ++i) {
    if (path[i].empty()) return reject("bad_topic", rc(400), "empty topic level", {});
  }
  std::size_t len = 0;
  const std::uint8_t* data = nullptr;
  std::string body;
  if (coap_get_data(request, &len, &data) != 0 && data != nullptr)
    body.assign(reinterpret_cast<const char*>(data), len);

  // Topic owner named in the path: /<pk>/<dn>/... for a registered productKey, or /sys/<pk>/<dn>/...
  std::string named_pk;
  std::string named_dn;
  if (path.size() >= 4 && path[1] == "sys") {
    named_pk = path[2];
    named_dn = path[3];
  } else if (path.size() >= 3 && product_keys_.count(path[1]) != 0) {
    named_pk = path[1];
    named_dn = path[2];
  }

  if (ep.m == mode::plain) {
    if (error_500_ > 0 && chance(error_500_)) {
      ++counters_.faults["error_500"];
      return reject("fault_500", rc(500), "injected 5.00", {});
    }
    std::string dkey = named_pk.empty() ? std::string() : key_of(named_pk, named_dn);
    bool dup = false;
    json p = json::parse(body, nullptr, false);
    if (!p.is_discarded() && p.is_object() && p.contains("id")) {
      if (!seen_ids_[dkey].insert(json_value_text(p["id"])).second) {
        dup = true;
        ++counters_.duplicates_by["id"];
      }
    }
    std::string mid = std::to_string(next_message_id_++);
    record(nullptr, ep.m, named_pk, named_dn, topic, body, std::nullopt, dup, mid);
    reply r;
    r.message_id = mid;
    r.payload = opt_.ack_payload;
    return r;
  }

  auto token = option_value(request, opt_token);
  if (!token) token = option_value(request, opt_token_legacy);
  if (!token) return reject("no_token", rc(401), "Token invalid", {});
  auto it = tokens_.find(*token);
  if (it == tokens_.end() || it->second.issued_in != ep.m) {
    return reject("token_invalid", rc(401), "Token invalid", {});
  }
  token_session& ts = it->second;
  std::string dkey = key_of(ts.product_key, ts.device_name);
  if (now_ms() >= ts.expires_ms) {
    tokens_.erase(it);
    return reject("token_expired", rc(401), "Token expired", dkey);
  }
  if (error_500_ > 0 && chance(error_500_)) {
    ++counters_.faults["error_500"];
    return reject("fault_500", rc(500), "injected 5.00", dkey);
  }
  if (!named_pk.empty() && (named_pk != ts.product_key || named_dn != ts.device_name)) {
    return reject("topic_forbidden", rc(403), "topic of another device", dkey);
  }
  std::optional<std::uint32_t> seq;
  std::string plaintext = body;
  bool dup = false;
  if (ep.m == mode::aes) {
    auto seq_opt = option_value(request, opt_seq);
    if (!seq_opt) return reject("no_seq", rc(400), "seq missing", dkey);
    auto seq_text = aes_decrypt(ts.key, *seq_opt);
    if (!seq_text || seq_text->empty() || seq_text->size() > 10 ||
        !std::all_of(seq_text->begin(), seq_text->end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return reject("bad_seq", rc(400), "seq undecryptable", dkey);
    }
    std::uint64_t v = std::stoull(*seq_text);
    if (v > 0xffffffffULL) return reject("bad_seq", rc(400), "seq out of range", dkey);
    seq = static_cast<std::uint32_t>(v);
    auto dec = aes_decrypt(ts.key, body);
    if (!dec) return reject("bad_payload", rc(400), "payload undecryptable", dkey);
    plaintext = std::move(*dec);
    // platform doc: seq must exceed seqOffset (iotkit starts at seqOffset: --seq-allow-equal) and not repeat.
    if (*seq < ts.seq_offset || (*seq == ts.seq_offset && !opt_.seq_allow_equal)) {
      return reject("seq_too_low", rc(402), "seq not above seqOffset", dkey);
    }
    std::size_t h = std::hash<std::string>{}(plaintext);
    auto [sit, fresh] = ts.seen_seq.emplace(*seq, h);
    if (!fresh) {
      if (sit->second != h) return reject("seq_reused", rc(402), "seq reused", dkey);
      dup = true;  // the same message again (a retransmission or a resend after a lost answer)
      ++counters_.duplicates_by["seq"];
    }
  }
  json p = json::parse(plaintext, nullptr, false);
  if (!p.is_discarded() && p.is_object() && p.contains("id")) {
    if (!seen_ids_[dkey].insert(json_value_text(p["id"])).second) {
      if (!dup) ++counters_.duplicates_by["id"];
      dup = true;
    }
  }
  separate = ts.separate || opt_.separate;
  std::string mid = std::to_string(next_message_id_++);
  record(&ts, ep.m, ts.product_key, ts.device_name, topic, plaintext, seq, dup, mid);
  reply r;
  r.message_id = mid;
  if (!opt_.ack_payload.empty())
    r.payload = ep.m == mode::aes ? aes_encrypt(ts.key, opt_.ack_payload) : opt_.ack_payload;
  return r;
}

void simulator::record(const token_session*, mode m, const std::string& pk, const std::string& dn,
                       const std::string& topic, const std::string& payload, std::optional<std::uint32_t> seq,
                       bool dup, const std::string& message_id) {
  ++counters_.accepted;
  std::string dkey = key_of(pk, dn);
  if (dup) ++counters_.duplicates;
  if (devices_.count(dkey) != 0) {
    auto& d = counters_.per_device[dkey];
    ++d.accepted;
    if (dup) ++d.duplicates;
  }
  if (opt_.verbose) {
    std::fprintf(stderr, "cloudsim: accepted %s %s seq=%s dup=%d\n", dkey.c_str(), topic.c_str(),
                 seq ? std::to_string(*seq).c_str() : "-", dup ? 1 : 0);
  }
  if (jsonl_ == nullptr) return;
  json line;
  const std::int64_t t_us = now_us();
  line["t_ms"] = t_us / 1000;
  line["t_us"] = t_us;  // for latencies below a millisecond (tests/bench/e2e)
  line["productKey"] = pk;
  line["deviceName"] = dn;
  line["topic"] = topic;
  if (valid_utf8(payload)) {
    line["payload"] = payload;
  } else {
    line["payload_b64"] = base64(payload);
  }
  if (seq)
    line["seq"] = *seq;
  else
    line["seq"] = nullptr;
  line["mode"] = mode_name(m);
  line["dup"] = dup;
  line["msgId"] = message_id;
  std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), jsonl_);
  std::fflush(jsonl_);  // visible before the answer leaves: tests read the file right after a 2.05
}

void simulator::on_request(endpoint_info& ep, coap_session_t* session, const coap_pdu_t* request,
                           coap_pdu_t* response) {
  coap_bin_const_t ctoken = coap_pdu_get_token(request);
  coap_async_t* async = coap_find_async(session, ctoken);
  if (async != nullptr) {
    // The delayed (separate) answer: computed when the request came, stored with the async (RFC 7252 §5.2.2).
    auto* stored = static_cast<reply*>(coap_async_get_app_data(async));
    if (stored != nullptr) {
      coap_pdu_set_code(response, stored->code);
      if (stored->json_payload) {
        std::uint8_t buf[4];
        coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_JSON), buf);
      }
      if (stored->message_id) {
        coap_add_option(response, opt_message_id, stored->message_id->size(),
                        reinterpret_cast<const std::uint8_t*>(stored->message_id->data()));
      }
      if (!stored->payload.empty()) {
        coap_add_data(response, stored->payload.size(),
                      reinterpret_cast<const std::uint8_t*>(stored->payload.data()));
      }
      pending_.erase(stored);
      coap_async_set_app_data(async, nullptr);
    }
    return;  // libcoap 4.3 removes a triggered async when this handler returns
  }

  ++counters_.requests;
  if (silent()) {
    ++counters_.faults["silent"];
    coap_pdu_set_code(response, COAP_EMPTY_CODE);
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    return;
  }
  if (drop_requests_ > 0 && chance(drop_requests_)) {
    ++counters_.faults["drop_request"];
    coap_pdu_set_code(response, COAP_EMPTY_CODE);
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    return;
  }

  std::vector<std::string> path;
  {
    coap_opt_iterator_t it;
    coap_opt_filter_t filter;
    coap_option_filter_clear(&filter);
    coap_option_filter_set(&filter, COAP_OPTION_URI_PATH);
    coap_option_iterator_init(request, &it, &filter);
    while (coap_opt_t* o = coap_option_next(&it)) {
      path.emplace_back(reinterpret_cast<const char*>(coap_opt_value(o)), coap_opt_length(o));
    }
  }
  reply r;
  bool separate = false;
  if (coap_pdu_get_code(request) != COAP_REQUEST_CODE_POST) {
    r = reject("method", rc(405), "POST only", {});
  } else if (path.size() == 1 && path[0] == "auth") {
    std::size_t len = 0;
    const std::uint8_t* data = nullptr;
    std::string body;
    if (coap_get_data(request, &len, &data) != 0 && data != nullptr)
      body.assign(reinterpret_cast<const char*>(data), len);
    if (error_500_ > 0 && chance(error_500_)) {
      ++counters_.faults["error_500"];
      r = auth_fail("fault_500", rc(500), {});
    } else {
      r = do_auth(ep, session, body, separate);
    }
  } else if (!path.empty() && path[0] == "topic") {
    r = do_publish(ep, request, path, separate);
  } else {
    r = reject("not_found", rc(404), "no such path", {});
  }

  if (drop_responses_ > 0 && chance(drop_responses_)) {
    ++counters_.faults["drop_response"];
    coap_pdu_set_code(response, COAP_EMPTY_CODE);
    coap_pdu_set_type(response, COAP_MESSAGE_NON);
    return;
  }
  if (ep.m == mode::aes && !r.payload.empty() && r.code != rc(205) && !opt_.plaintext_errors) {
    r.payload
        .clear();  // no plaintext diagnostics unless asked: iotkit AES-decrypts every answer (spec §12 #8)
  }
  if (separate || delay_ms_ > 0) {
    // Empty ACK now, the answer as a separate CON later (RFC 7252 §5.2.2); with delay-ms it comes that late.
    coap_tick_t delay =
        delay_ms_ > 0 ? static_cast<coap_tick_t>(delay_ms_) * COAP_TICKS_PER_SECOND / 1000 : 1;
    coap_async_t* a = coap_register_async(session, request, delay);
    if (a != nullptr) {
      auto owned = std::make_unique<reply>(std::move(r));
      coap_async_set_app_data(a, owned.get());
      pending_.emplace(owned.get(), std::move(owned));
      return;
    }
  }
  coap_pdu_set_code(response, r.code);
  if (r.json_payload) {
    std::uint8_t buf[4];
    coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_JSON), buf);
  }
  if (r.message_id) {
    coap_add_option(response, opt_message_id, r.message_id->size(),
                    reinterpret_cast<const std::uint8_t*>(r.message_id->data()));
  }
  if (!r.payload.empty()) {
    coap_add_data(response, r.payload.size(), reinterpret_cast<const std::uint8_t*>(r.payload.data()));
  }
}

// spec §8 (LinkSDK scheme): identity "devicename|hmacsha256|${pk}&${dn}|${timestamp}",
// PSK = ASCII of upper-case hex HMAC-SHA256(deviceSecret, "id${pk}&${dn}timestamp${timestamp}").
const coap_bin_const_t* simulator::on_psk_identity(const coap_bin_const_t* identity) {
  std::string id(reinterpret_cast<const char*>(identity->s), identity->length);
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto bar = id.find('|', start);
    parts.push_back(id.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  if (parts.size() != 4 || parts[1] != "hmacsha256") {
    ++counters_.auth_failed["psk_bad_identity"];
    return nullptr;
  }
  auto amp = parts[2].find('&');
  if (amp == std::string::npos) {
    ++counters_.auth_failed["psk_bad_identity"];
    return nullptr;
  }
  std::string pk = parts[2].substr(0, amp);
  std::string dn = parts[2].substr(amp + 1);
  auto dev = devices_.find(key_of(pk, dn));
  if (dev == devices_.end()) {
    ++counters_.auth_failed["psk_unknown_device"];
    return nullptr;
  }
  psk_storage_ = hmac_sha256_hex_upper(dev->second.secret, "id" + pk + "&" + dn + "timestamp" + parts[3]);
  psk_result_.s = reinterpret_cast<const std::uint8_t*>(psk_storage_.data());
  psk_result_.length = psk_storage_.size();
  return &psk_result_;
}

void simulator::on_event(coap_event_t event) {
  if (event == COAP_EVENT_DTLS_ERROR) ++counters_.auth_failed["dtls_handshake"];
}

int event_handler(coap_session_t* session, const coap_event_t event) {
  auto* ep = static_cast<endpoint_info*>(coap_get_app_data(coap_session_get_context(session)));
  if (ep != nullptr) ep->sim->on_event(event);
  return 0;
}

void request_handler(coap_resource_t*, coap_session_t* session, const coap_pdu_t* request,
                     const coap_string_t*, coap_pdu_t* response) {
  auto* ep = static_cast<endpoint_info*>(coap_get_app_data(coap_session_get_context(session)));
  ep->sim->on_request(*ep, session, request, response);
}

const coap_bin_const_t* psk_callback(coap_bin_const_t* identity, coap_session_t*, void* arg) {
  return static_cast<simulator*>(arg)->on_psk_identity(identity);
}

void simulator::tune_socket_buffers(std::uint16_t port) {
  // libcoap 4.3.1 keeps endpoint sockets private: find ours by local port, then raise the buffers so that a
  // thousand simultaneous handshakes or auths do not overflow the default.
  for (int fd = 3; fd < 65536; ++fd) {
    if (fcntl(fd, F_GETFD) == -1) {
      if (fd > 4096) break;
      continue;
    }
    sockaddr_storage ss{};
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0 || ss.ss_family != AF_INET) continue;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) != port) continue;
    int size = 8 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  }
}

coap_context_t* simulator::make_context(endpoint_info& ep, std::string& error) {
  coap_context_t* ctx = coap_new_context(nullptr);
  if (ctx == nullptr) {
    error = "coap_new_context failed";
    return nullptr;
  }
  coap_set_app_data(ctx, &ep);
  // libcoap answers 4.02 to unregistered critical (odd) options: the platform's are known here.
  for (std::uint16_t o : {opt_token, opt_seq, opt_message_id, opt_token_legacy}) coap_register_option(ctx, o);
  coap_register_event_handler(ctx, event_handler);
  coap_context_set_max_idle_sessions(ctx, 0);
  coap_context_set_session_timeout(ctx, opt_.session_timeout_s);
  coap_proto_t proto = COAP_PROTO_UDP;
  if (ep.m == mode::psk) {
    proto = COAP_PROTO_DTLS;
    static const char unknown_key[] = "cloudsim-no-default-psk";
    coap_dtls_spsk_t psk{};
    psk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    psk.validate_id_call_back = psk_callback;
    psk.id_call_back_arg = this;
    psk.psk_info.hint.s = reinterpret_cast<const std::uint8_t*>("");
    psk.psk_info.hint.length = 0;
    psk.psk_info.key.s = reinterpret_cast<const std::uint8_t*>(unknown_key);
    psk.psk_info.key.length = sizeof unknown_key - 1;
    if (coap_context_set_psk2(ctx, &psk) != 1) {
      error = "coap_context_set_psk2 failed";
      return nullptr;
    }
  } else if (ep.m == mode::cert) {
    proto = COAP_PROTO_DTLS;
    coap_dtls_pki_t pki{};
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 0;
    pki.pki_key.key_type = COAP_PKI_KEY_PEM;
    pki.pki_key.key.pem.public_cert = opt_.cert_file.c_str();
    pki.pki_key.key.pem.private_key = opt_.key_file.c_str();
    pki.pki_key.key.pem.ca_file = nullptr;
    if (coap_context_set_pki(ctx, &pki) != 1) {
      error = "coap_context_set_pki failed (check --cert/--key)";
      return nullptr;
    }
  }
  coap_address_t addr;
  coap_address_init(&addr);
  addr.addr.sin.sin_family = AF_INET;
  addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.addr.sin.sin_port = htons(ep.port);
  addr.size = sizeof(sockaddr_in);
  coap_endpoint_t* endpoint = coap_new_endpoint(ctx, &addr, proto);
  if (endpoint == nullptr) {
    error = std::string("cannot listen on port ") + std::to_string(ep.port) + " for " + mode_name(ep.m);
    return nullptr;
  }
  if (ep.port == 0) {
    // endpoint string is "127.0.0.1:PORT"
    std::string s = coap_endpoint_str(endpoint);
    auto colon = s.rfind(':');
    ep.port = static_cast<std::uint16_t>(std::stoi(s.substr(colon + 1)));
  }
  coap_resource_t* unknown = coap_resource_unknown_init2(request_handler, 0);
  for (coap_request_t m : {COAP_REQUEST_POST, COAP_REQUEST_GET, COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                           COAP_REQUEST_PATCH, COAP_REQUEST_IPATCH}) {
    coap_register_handler(unknown, m, request_handler);
  }
  coap_add_resource(ctx, unknown);
  // "/auth" is a real resource so the unknown-resource handler sees only the rest.
  coap_resource_t* auth = coap_resource_init(coap_make_str_const("auth"), 0);
  for (coap_request_t m : {COAP_REQUEST_POST, COAP_REQUEST_GET, COAP_REQUEST_PUT, COAP_REQUEST_DELETE}) {
    coap_register_handler(auth, m, request_handler);
  }
  coap_add_resource(ctx, auth);
  tune_socket_buffers(ep.port);
  ep.ctx = ctx;
  ep.coap_fd = coap_context_get_coap_fd(ctx);
  return ctx;
}

bool simulator::start_endpoints(std::string& error) {
  auto add = [&](int port, mode m) -> bool {
    if (port < 0) return true;
    auto ep = std::make_unique<endpoint_info>();
    ep->sim = this;
    ep->m = m;
    ep->port = static_cast<std::uint16_t>(port);
    if (make_context(*ep, error) == nullptr) return false;
    const char* label = m == mode::aes ? "aes" : m == mode::psk ? "psk" : m == mode::cert ? "dtls" : "plain";
    std::printf("cloudsim: listening %s=127.0.0.1:%u\n", label, static_cast<unsigned>(ep->port));
    endpoints_.push_back(std::move(ep));
    return true;
  };
  if (opt_.cert_port >= 0 && (opt_.cert_file.empty() || opt_.key_file.empty())) {
    error = "--dtls-port needs --cert and --key";
    return false;
  }
  if (!add(opt_.aes_port, mode::aes) || !add(opt_.psk_port, mode::psk) || !add(opt_.cert_port, mode::cert) ||
      !add(opt_.plain_port, mode::plain)) {
    return false;
  }
  if (endpoints_.empty()) {
    error = "no endpoint enabled (give at least one of --aes-port --psk-port --dtls-port --plain-port)";
    return false;
  }
  return true;
}

void simulator::restart_contexts() {
  // "restart": forget every token and every CoAP/DTLS session, as a platform restart would; ports stay.
  tokens_.clear();
  for (auto& ep : endpoints_) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, ep->coap_fd, nullptr);
    coap_free_context(ep->ctx);
    ep->ctx = nullptr;
    std::string error;
    if (make_context(*ep, error) == nullptr) {
      std::fprintf(stderr, "cloudsim: restart failed: %s\n", error.c_str());
      std::exit(3);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = ep.get();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ep->coap_fd, &ev);
  }
  pending_.clear();  // their asyncs went with the old contexts
}

json simulator::stats_json(bool per_device) const {
  json j;
  j["requests"] = counters_.requests;
  j["auth_ok"] = counters_.auth_ok;
  j["auth_failed"] = json::object();
  std::uint64_t af = 0;
  for (const auto& [k, v] : counters_.auth_failed) {
    j["auth_failed"][k] = v;
    af += v;
  }
  j["auth_failed_total"] = af;
  j["accepted"] = counters_.accepted;
  j["rejected"] = json::object();
  std::uint64_t rj = 0;
  for (const auto& [k, v] : counters_.rejected) {
    j["rejected"][k] = v;
    rj += v;
  }
  j["rejected_total"] = rj;
  j["duplicates"] = counters_.duplicates;
  j["first_deliveries"] = counters_.accepted - counters_.duplicates;
  j["duplicates_by"] = json::object();
  for (const auto& [k, v] : counters_.duplicates_by) j["duplicates_by"][k] = v;
  j["faults"] = json::object();
  for (const auto& [k, v] : counters_.faults) j["faults"][k] = v;
  j["tokens"] = tokens_.size();
  j["devices"] = devices_.size();
  if (per_device) {
    json d = json::object();
    for (const auto& [k, c] : counters_.per_device) {
      d[k] = {{"auth_ok", c.auth_ok},
              {"auth_failed", c.auth_failed},
              {"accepted", c.accepted},
              {"rejected", c.rejected},
              {"duplicates", c.duplicates}};
    }
    j["per_device"] = d;
  }
  return j;
}

void simulator::write_stats(bool to_stderr) {
  if (to_stderr) std::fprintf(stderr, "cloudsim: stats %s\n", stats_json(false).dump().c_str());
  if (!opt_.stats_file.empty()) {
    std::string tmp = opt_.stats_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << stats_json(true).dump(1) << '\n';
    }
    std::rename(tmp.c_str(), opt_.stats_file.c_str());
  }
}

bool parse_fraction(const std::string& s, double& out) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || v < 0 || v > 1) return false;
  out = v;
  return true;
}

bool parse_nonneg(const std::string& s, long& out) {
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || v < 0) return false;
  out = v;
  return true;
}

std::string simulator::handle_command(const std::string& line) {
  std::istringstream in(line);
  std::string cmd;
  std::string arg;
  in >> cmd >> arg;
  double f = 0;
  long n = 0;
  if (cmd == "drop-requests" || cmd == "drop-responses" || cmd == "error-500") {
    if (!parse_fraction(arg, f)) return "error " + cmd + " needs a fraction 0..1";
    (cmd == "drop-requests" ? drop_requests_ : cmd == "drop-responses" ? drop_responses_ : error_500_) = f;
    return "ok " + cmd + " " + arg;
  }
  if (cmd == "delay-ms") {
    if (!parse_nonneg(arg, n)) return "error delay-ms needs a number";
    delay_ms_ = static_cast<int>(n);
    return "ok delay-ms " + arg;
  }
  if (cmd == "expire-tokens") {
    std::size_t count = tokens_.size();
    for (auto& [k, ts] : tokens_) ts.expires_ms = 0;
    return "ok expired " + std::to_string(count);
  }
  if (cmd == "refuse-auth" || cmd == "silent") {
    if (!parse_nonneg(arg, n)) return "error " + cmd + " needs seconds";
    (cmd == "silent" ? silent_until_ms_ : refuse_auth_until_ms_) = now_ms() + n * 1000;
    return "ok " + cmd + " " + arg;
  }
  if (cmd == "restart") {
    restart_contexts();  // before the reply, so a client that saw "ok" talks to the new endpoints
    restart_requested_ = true;
    return "ok restart";
  }
  if (cmd == "reload-registry") {
    // The platform side of "the operator fixed the device secret in the console": the --registry file is read
    // again and replaces the devices (tokens already issued stay valid). A bad file keeps the old registry.
    if (opt_.registry_file.empty()) return "error reload-registry needs --registry";
    auto old_devices = std::move(devices_);
    auto old_product_keys = std::move(product_keys_);
    devices_.clear();
    product_keys_.clear();
    std::string error;
    if (!load_registry(error)) {
      devices_ = std::move(old_devices);
      product_keys_ = std::move(old_product_keys);
      return "error " + error;
    }
    return "ok reload-registry " + std::to_string(devices_.size());
  }
  if (cmd == "stats") return "ok " + stats_json(false).dump();
  if (cmd == "reset-faults") {
    reset_faults();
    return "ok reset-faults";
  }
  if (cmd == "ping") return "ok pong";
  return "error unknown command '" + cmd + "'";
}

int simulator::run() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  auto add_fd = [&](int fd, void* tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = tag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  };
  static int signal_tag = 0;
  static int control_tag = 0;
  add_fd(sfd, &signal_tag);
  for (auto& ep : endpoints_) add_fd(ep->coap_fd, ep.get());

  int control_fd = -1;
  std::unordered_map<int, std::string> control_clients;  // fd -> partial input
  std::vector<std::unique_ptr<int>> client_tags;
  if (!opt_.control_path.empty()) {
    control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, opt_.control_path.c_str(), sizeof sa.sun_path - 1);
    ::unlink(opt_.control_path.c_str());
    if (bind(control_fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(control_fd, 16) != 0) {
      std::fprintf(stderr, "cloudsim: cannot bind control socket %s: %s\n", opt_.control_path.c_str(),
                   std::strerror(errno));
      return 2;
    }
    add_fd(control_fd, &control_tag);
    std::printf("cloudsim: control=%s\n", opt_.control_path.c_str());
  }
  std::printf("cloudsim: ready\n");
  std::fflush(stdout);

  constexpr int max_events = 64;
  constexpr int batch = 32;  // coap_io_do_epoll reads one datagram per event: repeat events to read many
  epoll_event events[max_events];
  std::vector<epoll_event> coap_events(static_cast<std::size_t>(max_events * batch));
  bool stop = false;
  while (!stop) {
    int timeout = 100;
    coap_tick_t now;
    coap_ticks(&now);
    for (auto& ep : endpoints_) {
      unsigned int t = coap_io_prepare_epoll(ep->ctx, now);
      if (t > 0 && static_cast<int>(t) < timeout) timeout = static_cast<int>(t);
    }
    int n = epoll_wait(epoll_fd_, events, max_events, timeout);
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &signal_tag) {
        signalfd_siginfo si{};
        while (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
          if (si.ssi_signo == SIGUSR1) {
            write_stats(true);
          } else {
            stop = true;
          }
        }
      } else if (tag == &control_tag) {
        for (;;) {
          int c = accept4(control_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          client_tags.push_back(std::make_unique<int>(c));
          control_clients[c] = {};
          add_fd(c, client_tags.back().get());
        }
      } else if (auto ep_it = std::find_if(endpoints_.begin(), endpoints_.end(),
                                           [&](const auto& e) { return e.get() == tag; });
                 ep_it != endpoints_.end()) {
        endpoint_info& ep = **ep_it;
        // Serve everything that is waiting, several datagrams per session walk.
        for (int round = 0; round < 64; ++round) {
          epoll_event inner[max_events];
          int m = epoll_wait(ep.coap_fd, inner, max_events, 0);
          if (m <= 0) break;
          std::size_t k = 0;
          for (int e = 0; e < m; ++e) {
            for (int b = 0; b < batch; ++b) coap_events[k++] = inner[e];
          }
          coap_io_do_epoll(ep.ctx, coap_events.data(), k);
        }
      } else {
        int c = *static_cast<int*>(tag);
        char buf[1024];
        ssize_t got = read(c, buf, sizeof buf);
        if (got <= 0) {
          if (got < 0 && errno == EAGAIN) continue;
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c, nullptr);
          close(c);
          control_clients.erase(c);
          continue;
        }
        std::string& pending = control_clients[c];
        pending.append(buf, static_cast<std::size_t>(got));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          std::string cmd_line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (!cmd_line.empty() && cmd_line.back() == '\r') cmd_line.pop_back();
          std::string answer = handle_command(cmd_line) + "\n";
          if (write(c, answer.data(), answer.size()) < 0) break;
        }
      }
      if (restart_requested_) {
        restart_requested_ = false;
        break;  // the event list may name freed contexts
      }
    }
  }
  if (jsonl_ != nullptr) std::fclose(jsonl_);
  write_stats(true);
  for (auto& ep : endpoints_) coap_free_context(ep->ctx);
  if (control_fd >= 0) ::unlink(opt_.control_path.c_str());
  return 0;
}

constexpr const char* help_text = R"(usage: cloudsim [options]
Alibaba Cloud IoT Platform CoAP emulator (test peer). Each endpoint is enabled by its port flag; 0 picks a free
port, printed as "cloudsim: listening MODE=127.0.0.1:PORT"; "cloudsim: ready" follows when all listen.

Endpoints:
  --aes-port N          AES ("symmetric encryption") mode on plain UDP (platform: 5682)
  --psk-port N          DTLS-PSK (identity/PSK derived per device, spec §8) (platform: 5684)
  --dtls-port N         DTLS with a certificate (needs --cert and --key) (platform: 5684)
  --plain-port N        plain CoAP, no auth: POST /topic/... accepted as is
  --cert FILE --key FILE  PEM server certificate and key for --dtls-port
Data:
  --registry FILE       devices, one per line: JSON {"productKey","deviceName","deviceSecret"} or CSV pk,dn,secret
  --jsonl FILE          append one JSON line per accepted message (flushed before the answer is sent)
  --stats FILE          write stats JSON (with per-device counters) on SIGUSR1 and at exit
  --control PATH        unix stream socket for run-time commands (see README.md)
Behaviour:
  --seed N              seed for tokens, randoms, seqOffsets and fault decisions (default 1)
  --token-lifetime S    token lifetime in seconds (default 604800 = 7 days)
  --seq-offset N        fixed seqOffset (default: random 1..1000)
  --session-timeout S   forget idle CoAP/DTLS sessions after S seconds (default 300; a DTLS client
                        reusing its source port is ignored until its old session goes)
  --seq-allow-equal     accept seq == seqOffset (what the C SDKs send first)
  --separate            answer every request with an empty ACK and a separate CON response
  --plaintext-errors    add plaintext diagnostics to error answers (AES mode too)
  --ack-payload TEXT    payload of publish answers (AES-encrypted in AES mode; default none)
  --fixed-token T       every /auth issues token T (test vectors; default: random, seeded)
  --fixed-random R      every AES /auth issues random R (test vectors)
  --verbose             log every request (off by default)
Faults (also at run time):
  --drop-requests P --drop-responses P --error-500 P --delay-ms N
  -h, --help
)";

int parse_args(int argc, char** argv, options& o) {
  auto need = [&](int& i) -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "cloudsim: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    try {
      if (a == "-h" || a == "--help") {
        std::fputs(help_text, stdout);
        return 1;
      } else if (a == "--aes-port")
        o.aes_port = std::stoi(need(i));
      else if (a == "--psk-port")
        o.psk_port = std::stoi(need(i));
      else if (a == "--dtls-port")
        o.cert_port = std::stoi(need(i));
      else if (a == "--plain-port")
        o.plain_port = std::stoi(need(i));
      else if (a == "--cert")
        o.cert_file = need(i);
      else if (a == "--key")
        o.key_file = need(i);
      else if (a == "--registry")
        o.registry_file = need(i);
      else if (a == "--jsonl")
        o.jsonl_file = need(i);
      else if (a == "--stats")
        o.stats_file = need(i);
      else if (a == "--control")
        o.control_path = need(i);
      else if (a == "--seed")
        o.seed = std::stoull(need(i));
      else if (a == "--token-lifetime")
        o.token_lifetime_s = std::stoll(need(i));
      else if (a == "--seq-offset")
        o.seq_offset = static_cast<std::uint32_t>(std::stoul(need(i)));
      else if (a == "--session-timeout")
        o.session_timeout_s = static_cast<unsigned>(std::stoul(need(i)));
      else if (a == "--seq-allow-equal")
        o.seq_allow_equal = true;
      else if (a == "--separate")
        o.separate = true;
      else if (a == "--plaintext-errors")
        o.plaintext_errors = true;
      else if (a == "--ack-payload")
        o.ack_payload = need(i);
      else if (a == "--verbose")
        o.verbose = true;
      else if (a == "--fixed-token")
        o.fixed_token = need(i);
      else if (a == "--fixed-random")
        o.fixed_random = need(i);
      else if (a == "--drop-requests")
        o.drop_requests = std::stod(need(i));
      else if (a == "--drop-responses")
        o.drop_responses = std::stod(need(i));
      else if (a == "--error-500")
        o.error_500 = std::stod(need(i));
      else if (a == "--delay-ms")
        o.delay_ms = std::stoi(need(i));
      else {
        std::fprintf(stderr, "cloudsim: unknown option %s (see --help)\n", a.c_str());
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "cloudsim: bad value for %s\n", a.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace
}  // namespace gw::cloudsim

int main(int argc, char** argv) {
  using namespace gw::cloudsim;
  options opt;
  if (int rc = parse_args(argc, argv, opt); rc != 0) return rc == 1 ? 0 : rc;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  coap_startup();
  coap_set_log_level(opt.verbose ? LOG_INFO : LOG_EMERG);
  coap_dtls_set_log_level(opt.verbose ? LOG_INFO : LOG_EMERG);
  simulator sim(opt);
  std::string error;
  if (!sim.load_registry(error) || !sim.open_outputs(error) || !sim.start_endpoints(error)) {
    std::fprintf(stderr, "cloudsim: %s\n", error.c_str());
    return 2;
  }
  int rc = sim.run();
  coap_cleanup();
  return rc;
}
