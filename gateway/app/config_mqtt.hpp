#pragma once
// Maps the mqtt section of the configuration onto the adapter's options (gw::mqtt sits below gw::app).

#include "gateway/app/config.hpp"
#include "gateway/mqtt/client.hpp"

namespace gw::app {

// The password is copied out of its wiping wrapper into the options (Paho keeps its own copy anyway).
gw::mqtt::client_options to_client_options(const mqtt_config& c);

}  // namespace gw::app
