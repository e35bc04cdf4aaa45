# SPDX-License-Identifier: Apache-2.0
# What `cmake --install` puts where: headers, libraries, tools, docs, the CMake package
# (find_package(canary-shm)) and the pkg-config module (canary-shm.pc).
include(CMakePackageConfigHelpers)
set(CANARY_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/canary-shm)
# Where Debian puts a package's docs: share/doc/canary-shm (GNUInstallDirs would say canary_shm).
set(CANARY_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/canary-shm)

install(DIRECTORY core/include/canary DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

# The writer (static, what a C++ worker links) and libcanary.so (the C ABI) in one export set;
# the aggregator's library in another, so that a worker's project never needs yaml-cpp.
set_target_properties(canary_writer PROPERTIES EXPORT_NAME writer)
set_target_properties(canary_shared PROPERTIES EXPORT_NAME canary)
install(TARGETS canary_writer canary_shared EXPORT canary-shm-writer
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(EXPORT canary-shm-writer NAMESPACE canary:: FILE canary-shm-writer-targets.cmake
  DESTINATION ${CANARY_CMAKE_DIR} COMPONENT dev)
if(TARGET canary_core)
  set_target_properties(canary_core PROPERTIES EXPORT_NAME core)
  install(TARGETS canary_core EXPORT canary-shm-core ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  install(EXPORT canary-shm-core NAMESPACE canary:: FILE canary-shm-core-targets.cmake
    DESTINATION ${CANARY_CMAKE_DIR} COMPONENT dev)
endif()

configure_package_config_file(cmake/canary-shm-config.cmake.in ${PROJECT_BINARY_DIR}/canary-shm-config.cmake
  INSTALL_DESTINATION ${CANARY_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/canary-shm-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/canary-shm-config.cmake ${PROJECT_BINARY_DIR}/canary-shm-config-version.cmake
  DESTINATION ${CANARY_CMAKE_DIR} COMPONENT dev)

# The prefix relative to the .pc file, so that a tree installed with --prefix elsewhere works too.
file(RELATIVE_PATH CANARY_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" CANARY_PC_TO_PREFIX "${CANARY_PC_TO_PREFIX}")
configure_file(cmake/canary-shm.pc.in ${PROJECT_BINARY_DIR}/canary-shm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/canary-shm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

foreach(tool canary-ctl canary-shm-dump canary-loadgen canary-aggregator canary-fleet canary-demo-server)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
  endif()
endforeach()

install(FILES README.md CHANGELOG.md LICENSE NOTICE DESTINATION ${CANARY_DOCDIR} COMPONENT runtime)
install(DIRECTORY docs/ DESTINATION ${CANARY_DOCDIR} COMPONENT runtime)
