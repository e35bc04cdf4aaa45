# SPDX-License-Identifier: Apache-2.0
# Tests of the release build only (tests/CMakeLists.txt includes this file when no sanitizer is on).

# Whole rollouts driven to their decisions by live traffic (minutes of traffic each under a
# sanitizer): label `e2e`; the sanitizer builds run the aggregator's process tests instead.
canary_process_tests(canary_decision_tests e2e decisions_e2e_test.cpp)

# Sustained load: alone on the machine (RUN_SERIAL).
add_executable(canary_load_tests aggregator_crash_test.cpp aggregator_load_test.cpp)
target_link_libraries(canary_load_tests PRIVATE canary_core GTest::gtest_main nlohmann_json::nlohmann_json)
target_compile_definitions(canary_load_tests PRIVATE
  CANARY_AGGREGATOR_PATH="$<TARGET_FILE:canary-aggregator>"
  CANARY_CTL_PATH="$<TARGET_FILE:canary-ctl>"
  CANARY_DUMP_PATH="$<TARGET_FILE:canary-shm-dump>"
  CANARY_LOADGEN_PATH="$<TARGET_FILE:canary-loadgen>")
add_dependencies(canary_load_tests canary-aggregator canary-ctl canary-shm-dump canary-loadgen)
gtest_discover_tests(canary_load_tests PROPERTIES LABELS "load" RUN_SERIAL TRUE DISCOVERY_TIMEOUT 60)

# Memory bounds measured on the heap (mallinfo2, which a sanitizer's allocator does not answer).
add_executable(canary_memory_tests memory_bound_test.cpp)
target_link_libraries(canary_memory_tests PRIVATE canary_core GTest::gtest_main)
gtest_discover_tests(canary_memory_tests PROPERTIES LABELS "memory" DISCOVERY_TIMEOUT 60)

# The decision statistics proven by simulation (arithmetic, and long).
add_executable(canary_simulation_tests decision_simulation_test.cpp)
target_link_libraries(canary_simulation_tests PRIVATE canary_core GTest::gtest_main)
gtest_discover_tests(canary_simulation_tests PROPERTIES LABELS "simulation" DISCOVERY_TIMEOUT 60)

# The decisions' second round, over long rollouts: change detection, per-endpoint judgement and
# the sample-ratio test (several minutes).
add_executable(canary_slow_simulation_tests change_detection_simulation_test.cpp endpoint_simulation_test.cpp
  srm_simulation_test.cpp versions_simulation_test.cpp user_unit_simulation_test.cpp)
target_link_libraries(canary_slow_simulation_tests PRIVATE canary_core GTest::gtest_main)
gtest_discover_tests(canary_slow_simulation_tests PROPERTIES LABELS "simulation" DISCOVERY_TIMEOUT 60)

# Projects that use canary-shm as a user would: add_subdirectory, FetchContent of a tarball,
# find_package and pkg-config of the installed tree (`cmake --install` of this build). Each
# routes and records a request. Alone: they compile the library again.
foreach(mode subdirectory fetchcontent package pkg-config)
  add_test(NAME ConsumerProject.${mode}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.sh ${mode} ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
      ${CMAKE_CURRENT_BINARY_DIR}/consumer-${mode} $<TARGET_FILE:canary-ctl> $<TARGET_FILE:canary-shm-dump>
      ${CMAKE_GENERATOR} ${CMAKE_CXX_COMPILER} ${CMAKE_C_COMPILER})
  set_tests_properties(ConsumerProject.${mode} PROPERTIES LABELS "consumer" RUN_SERIAL TRUE TIMEOUT 600)
endforeach()

# A fleet of four hosts in two regions, two controllers and a three-member etcd cluster, killed
# and restarted by the tests: label `fleet`.
add_executable(canary_fleet_tests fleet_e2e_test.cpp)
target_link_libraries(canary_fleet_tests PRIVATE canary_fleet GTest::gtest_main nlohmann_json::nlohmann_json)
target_compile_definitions(canary_fleet_tests PRIVATE
  CANARY_AGGREGATOR_PATH="$<TARGET_FILE:canary-aggregator>"
  CANARY_FLEET_PATH="$<TARGET_FILE:canary-fleet>"
  CANARY_CTL_PATH="$<TARGET_FILE:canary-ctl>"
  CANARY_DUMP_PATH="$<TARGET_FILE:canary-shm-dump>"
  CANARY_LOADGEN_PATH="$<TARGET_FILE:canary-loadgen>")
add_dependencies(canary_fleet_tests canary-aggregator canary-fleet canary-ctl canary-shm-dump canary-loadgen)
gtest_discover_tests(canary_fleet_tests PROPERTIES LABELS "fleet" RUN_SERIAL TRUE DISCOVERY_TIMEOUT 60)

# The fleet's decision rule by simulation (round.hpp without HTTP).
add_executable(canary_fleet_simulation_tests fleet_simulation_test.cpp)
target_link_libraries(canary_fleet_simulation_tests PRIVATE canary_fleet GTest::gtest_main)
gtest_discover_tests(canary_fleet_simulation_tests PROPERTIES LABELS "simulation" DISCOVERY_TIMEOUT 60)

# The .deb: built by cpack from this tree, checked by lintian, installed with apt-get, run, verified
# (systemd-analyze verify of the unit template) and removed. Alone.
add_test(NAME Package.DebInstallsRunsAndRemoves
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/package/run.sh ${PROJECT_BINARY_DIR} ${PROJECT_VERSION})
set_tests_properties(Package.DebInstallsRunsAndRemoves PROPERTIES LABELS "package" RUN_SERIAL TRUE TIMEOUT 600)

# The experiment verdict by simulation (A/A, A/A/A, a 5% lift).
add_executable(canary_experiment_simulation_tests experiment_simulation_test.cpp)
target_link_libraries(canary_experiment_simulation_tests PRIVATE canary_core GTest::gtest_main)
gtest_discover_tests(canary_experiment_simulation_tests PROPERTIES LABELS "simulation" DISCOVERY_TIMEOUT 60)

# The nginx module in a real nginx (SPEC section 13): routing, exact counts, reload, a killed
# worker and an automatic rollback (tests/nginx/run.sh). Release build only: nginx is not
# instrumented.
if(CANARY_BUILD_NGINX)
  add_test(NAME Nginx.RoutesRecordsSurvivesReloadAndKillAndRollsBack
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/nginx/run.sh ${CANARY_NGINX_MODULE} $<TARGET_FILE:canary-ctl>
            $<TARGET_FILE:canary-shm-dump> $<TARGET_FILE:canary-aggregator> ${CMAKE_CURRENT_BINARY_DIR}/nginx-work)
  set_tests_properties(Nginx.RoutesRecordsSurvivesReloadAndKillAndRollsBack PROPERTIES LABELS "nginx" TIMEOUT 300)
endif()
