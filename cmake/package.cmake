# SPDX-License-Identifier: Apache-2.0
# `cpack -G DEB` in the build tree: canary-shm_VERSION_ARCH.deb with the tools, libcanary.so.1, the
# static libraries, headers, CMake package, pkg-config module, docs, man pages, bash completion and
# the systemd unit template canary-aggregator@.service. Installs under /usr.
# The unit names the tools under the prefix the install uses (/usr for the .deb, /usr/local for a
# plain `cmake --install`): configured when installing, not when building.
install(CODE "
  set(CANARY_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(${PROJECT_SOURCE_DIR}/packaging/systemd/canary-aggregator@.service.in
                 ${PROJECT_BINARY_DIR}/systemd/canary-aggregator@.service @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       FILES ${PROJECT_BINARY_DIR}/systemd/canary-aggregator@.service)" COMPONENT runtime)
install(FILES packaging/debian/copyright DESTINATION ${CANARY_DOCDIR} COMPONENT runtime)
set(canary_debian_changelog ${PROJECT_BINARY_DIR}/changelog.Debian.gz)
add_custom_command(OUTPUT ${canary_debian_changelog}
  COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/packaging/debian/changelog > ${canary_debian_changelog}
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog VERBATIM)
add_custom_target(canary_debian_changelog ALL DEPENDS ${canary_debian_changelog})
install(FILES ${canary_debian_changelog} DESTINATION ${CANARY_DOCDIR} COMPONENT runtime)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME canary-shm)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
# Stripped, as Debian ships binaries (debug builds keep their symbols in the build tree).
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_CONTACT "canary-shm maintainers <maintainers@canary-shm.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "canary deployments for pre-forked worker pools, in shared memory")
# The extended description (CPack puts the summary before it and indents every line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Workers route a deterministic share of users to a canary version and record
every request lock-free into a POSIX shared-memory segment; an aggregator
computes error rates and latency quantiles per version and endpoint, promotes
or rolls back against SLOs, and serves an admin API and Prometheus metrics.
.
This package has the tools (canary-ctl, canary-shm-dump, canary-loadgen,
canary-aggregator, canary-fleet), the C ABI library libcanary.so.1, the C and
C++ headers, static libraries, the CMake and pkg-config files, and a systemd
unit template for one aggregator per segment.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://canary-shm.invalid/")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# dpkg-shlibdeps computes the library dependencies; adduser creates the service's user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
  ${PROJECT_SOURCE_DIR}/packaging/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
