# Project-wide compile flags, applied through the gw_options interface target that every target links.
add_library(gw_options INTERFACE)
target_compile_options(gw_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                            -Wold-style-cast -Wcast-align)
if(GW_WERROR)
  target_compile_options(gw_options INTERFACE -Werror)
endif()
if(GW_SANITIZE)
  target_compile_options(gw_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                              -fno-sanitize-recover=undefined)
  target_link_options(gw_options INTERFACE -fsanitize=address,undefined)
endif()

# gw_add_layer(NAME SOURCES a.cpp ... DEPS lib ...): one static library per layer (shared/design.md §3).
# The include root is the repository's gateway/ parent, so code includes "gateway/coap/message.hpp".
function(gw_add_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
  add_library(gw_${name} STATIC ${L_SOURCES})
  target_include_directories(gw_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(gw_${name} PUBLIC gw_options ${L_DEPS})
  add_library(gw::${name} ALIAS gw_${name})
endfunction()

# gw_add_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s] [FILTER gtest-filter]): a GoogleTest
# executable registered with ctest; FILTER registers only the matching tests (another gtest_discover_tests
# call on the same target can register the rest under other labels).
function(gw_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT;FILTER" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE gw_options ${T_DEPS} GTest::gmock GTest::gtest_main)
  include(GoogleTest)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # gtest_discover_tests cannot pass a list-valued property (the second label would be read as a property
  # name), so several labels become one joined by '-': ctest's -L/-LE take regexes, so "integration-long" is
  # selected by -L integration and excluded by -LE long.
  string(REPLACE ";" "-" label "${T_LABELS}")
  # ctest names are "<exe>.<Suite>.<Test>", so `ctest -R <exe>` selects one executable.
  set(filter)
  if(T_FILTER)
    set(filter TEST_FILTER "${T_FILTER}")
  endif()
  gtest_discover_tests(${name} TEST_PREFIX "${name}." DISCOVERY_TIMEOUT 60 ${filter}
                       PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${label}")
endfunction()
