# SPDX-License-Identifier: Apache-2.0
# Man pages (help2man, from each tool's --help and --version) and one bash completion script
# (scripts/bash-completion.sh, from the same --help), generated at build time and installed.
find_program(CANARY_HELP2MAN help2man)
if(NOT CANARY_HELP2MAN)
  message(STATUS "canary-shm: help2man not found: no man pages (scripts/install-deps.sh installs it)")
endif()

set(canary_documented_tools)
foreach(tool canary-ctl canary-shm-dump canary-loadgen canary-aggregator canary-fleet canary-demo-server)
  if(TARGET ${tool})
    list(APPEND canary_documented_tools ${tool})
  endif()
endforeach()

set(canary_man_pages)
if(CANARY_HELP2MAN)
  foreach(tool ${canary_documented_tools})
    set(page ${PROJECT_BINARY_DIR}/man/${tool}.1)
    # The first line of --help says what the tool does: it is the page's NAME line.
    add_custom_command(OUTPUT ${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND sh -c "${CANARY_HELP2MAN} --no-info --section=1 --name=\"$($<TARGET_FILE:${tool}> --help | head -n 1 | sed 's/[.]$//')\" --output=${page} $<TARGET_FILE:${tool}> && gzip -9nf ${page}"
      DEPENDS ${tool}
      COMMENT "man page for ${tool}"
      VERBATIM)
    list(APPEND canary_man_pages ${page}.gz)
  endforeach()
endif()

set(canary_completion ${PROJECT_BINARY_DIR}/completions/canary-shm)
set(canary_tool_files)
foreach(tool ${canary_documented_tools})
  list(APPEND canary_tool_files $<TARGET_FILE:${tool}>)
endforeach()
add_custom_command(OUTPUT ${canary_completion}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/completions
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/bash-completion.sh ${canary_completion} ${canary_tool_files}
  DEPENDS ${canary_documented_tools} ${PROJECT_SOURCE_DIR}/scripts/bash-completion.sh
  COMMENT "bash completion for canary-shm's tools"
  VERBATIM)
add_custom_target(canary_manpages ALL DEPENDS ${canary_man_pages} ${canary_completion})

if(CANARY_INSTALL)
  install(FILES ${canary_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
  # bash-completion loads completions/NAME for the command NAME: one link per tool to the script.
  install(FILES ${canary_completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)
  foreach(tool ${canary_documented_tools})
    install(CODE "file(CREATE_LINK canary-shm \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/bash-completion/completions/${tool}\" SYMBOLIC)"
      COMPONENT runtime)
  endforeach()
endif()
