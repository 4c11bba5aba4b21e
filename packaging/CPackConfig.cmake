# Install rules and the Debian package (issue #8, docs/operations.md "Install from the .deb").
# Included from the top-level CMakeLists.txt (`include(packaging/CPackConfig.cmake)`, after the subdirectories)
# or injected by scripts/package.sh with -DCMAKE_PROJECT_INCLUDE. The binary's own rule,
# install(TARGETS mqtt-coap-gateway RUNTIME DESTINATION bin), lives in gateway/app/CMakeLists.txt.
# Build the package with a prefix of /usr: scripts/package.sh.
include_guard(GLOBAL)

include(GNUInstallDirs)  # prefix /usr -> sysconfdir /etc; /usr/local -> /usr/local/etc
set(GW_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(GW_SOURCE_ROOT ${CMAKE_CURRENT_LIST_DIR} DIRECTORY)

# systemd reads /usr/lib/systemd/system on Debian 12 (merged /usr).
install(FILES ${GW_SOURCE_ROOT}/systemd/mqtt-coap-gateway.service DESTINATION lib/systemd/system)
# The configuration: a conffile, root:mqtt-coap-gateway 0640 (set by postinst). It is the documented example:
# edit it (devices, secrets as ${cred:secrets_<file>}), then `systemctl enable --now mqtt-coap-gateway`.
# One change to the example: cloud.ca_file points at Debian's bundle (ca-certificates), because certificate mode
# refuses an empty ca_file although config.hpp documents empty as "the system default store".
file(READ ${GW_SOURCE_ROOT}/config/gateway.example.yaml GW_EXAMPLE_CONFIG)
string(REPLACE "\n  ca_file: \"\"" "\n  ca_file: /etc/ssl/certs/ca-certificates.crt" GW_PACKAGED_CONFIG
       "${GW_EXAMPLE_CONFIG}")
file(WRITE ${CMAKE_BINARY_DIR}/packaging/gateway.yaml "${GW_PACKAGED_CONFIG}")
install(FILES ${CMAKE_BINARY_DIR}/packaging/gateway.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/mqtt-coap-gateway
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${GW_SOURCE_ROOT}/config/gateway.example.yaml DESTINATION share/doc/mqtt-coap-gateway/examples)
if(EXISTS ${GW_SOURCE_ROOT}/docs/operations.md)
  install(FILES ${GW_SOURCE_ROOT}/docs/operations.md DESTINATION share/doc/mqtt-coap-gateway)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mqtt-coap-gateway)
set(CPACK_PACKAGE_VENDOR "mqtt-coap-gateway")
set(CPACK_PACKAGE_CONTACT "mqtt-coap-gateway maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Bridges a local MQTT broker to Alibaba Cloud IoT Platform over CoAP")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime libraries come from dpkg-shlibdeps (libboost, libpaho-mqtt, libspdlog, libyaml-cpp, libsqlite3,
# libssl, libsystemd); adduser for postinst, ca-certificates for cloud.ca_file; the broker is recommended, not required (it may run elsewhere).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "mosquitto")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${GW_PACKAGING_DIR}/debian/conffiles;${GW_PACKAGING_DIR}/debian/postinst;${GW_PACKAGING_DIR}/debian/prerm;${GW_PACKAGING_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# A cross build (packaging/toolchain-aarch64.cmake) packs for its target, not for the machine running cpack.
if(CMAKE_CROSSCOMPILING AND CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
endif()
include(CPack)
