# e2e_mqtt_load, the MQTT load process of the end-to-end tests (tests/integration, tests/faults) and of the
# benchmarks (tests/bench). Included by tests/integration and tests/bench, whichever is configured first, so the
# tests need no bench build.
if(NOT TARGET e2e_mqtt_load)
  add_executable(e2e_mqtt_load ${PROJECT_SOURCE_DIR}/tests/bench/e2e/mqtt_load.cpp)
  # A load tool, never built with the sanitizers (gw_options): under ASan, Paho C's offline buffering showed a
  # use-after-free between its own send and receive threads while the broker restarted, inside libpaho.
  target_link_libraries(e2e_mqtt_load PRIVATE PahoMqttCpp::paho-mqttpp3 Threads::Threads)
  target_include_directories(e2e_mqtt_load PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(e2e_mqtt_load PRIVATE -Wall -Wextra)
  set_target_properties(e2e_mqtt_load PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/bench/e2e)
endif()
