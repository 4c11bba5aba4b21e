# Every third-party dependency is found here, once (Paho's config breaks if found twice).
# All come from Debian 12 packages installed by scripts/setup.sh.
find_package(Threads REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED)            # header-only Asio + Beast -> Boost::headers
find_package(OpenSSL 3 REQUIRED)                    # OpenSSL::SSL OpenSSL::Crypto
find_package(PahoMqttCpp REQUIRED)                  # PahoMqttCpp::paho-mqttpp3
find_package(spdlog REQUIRED)                       # spdlog::spdlog
find_package(yaml-cpp REQUIRED)                     # plain target yaml-cpp (0.7)
find_package(nlohmann_json 3 REQUIRED)              # nlohmann_json::nlohmann_json
find_package(SQLite3 REQUIRED)                      # SQLite::SQLite3
find_package(CLI11 CONFIG REQUIRED)                 # CLI11::CLI11
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)        # PkgConfig::SYSTEMD
pkg_check_modules(COAP3 REQUIRED IMPORTED_TARGET libcoap-3-openssl)  # PkgConfig::COAP3 (test peer only)
if(GW_BUILD_TESTS)
  find_package(GTest REQUIRED)                      # GTest::gtest GTest::gmock GTest::gtest_main
endif()
if(GW_BUILD_BENCH)
  find_package(benchmark REQUIRED)                  # benchmark::benchmark
endif()
