# The Debian package (scripts/package.sh): `cpack -G DEB` in a build
# configured with -DFJ_PACKAGE=ON and -DCMAKE_INSTALL_PREFIX=/usr. It holds
# what `cmake --install` puts in place plus the man pages, the copyright file
# and the Debian changelog, and runs the daemon as the system user
# forkjournal (packaging/debian/postinst, prerm, postrm).
find_program(FJ_HELP2MAN help2man REQUIRED)
find_program(FJ_GZIP gzip REQUIRED)

# Man pages from each program's --help and --version, so they never drift
# from the options the program actually takes, plus the hand-written
# sections in packaging/man/PROGRAM.h2m (exit status, signals, environment,
# files). forkjournal's page also documents every command, each from its own
# --help (packaging/man/commands.sh). gzip -n: no timestamp, so the package
# builds the same twice.
set(FJ_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(FJ_MAN_SOURCE ${PROJECT_SOURCE_DIR}/packaging/man)
add_custom_command(
  OUTPUT ${FJ_MAN_DIR}/forkjournal-commands.h2m
  COMMAND ${CMAKE_COMMAND} -E make_directory ${FJ_MAN_DIR}
  COMMAND sh ${FJ_MAN_SOURCE}/commands.sh $<TARGET_FILE:forkjournal>
          > ${FJ_MAN_DIR}/forkjournal-commands.h2m
  DEPENDS forkjournal ${FJ_MAN_SOURCE}/commands.sh
  COMMENT "Documenting the commands of forkjournal"
  VERBATIM)
set(FJ_MAN_PAGES)
foreach(entry
        "forkjournal|record and inspect VM template fork events in a journal"
        "forkjournald|serve a fork journal to VM managers over a Unix socket"
        "forkjournal-crashtest|check that a crash loses no acknowledged journal write")
  string(REPLACE "|" ";" entry "${entry}")
  list(GET entry 0 program)
  list(GET entry 1 summary)
  set(includes)
  set(include_files)
  if(program STREQUAL "forkjournal")
    list(APPEND include_files ${FJ_MAN_DIR}/forkjournal-commands.h2m)
  endif()
  if(EXISTS ${FJ_MAN_SOURCE}/${program}.h2m)
    list(APPEND include_files ${FJ_MAN_SOURCE}/${program}.h2m)
  endif()
  foreach(file IN LISTS include_files)
    list(APPEND includes --include ${file})
  endforeach()
  add_custom_command(
    OUTPUT ${FJ_MAN_DIR}/${program}.1.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${FJ_MAN_DIR}
    COMMAND ${FJ_HELP2MAN} --no-info --no-discard-stderr --section 1
            --name "${summary}" --source "forkjournal ${PROJECT_VERSION}" ${includes}
            --output ${FJ_MAN_DIR}/${program}.1 $<TARGET_FILE:${program}>
    COMMAND ${FJ_GZIP} -9nf ${FJ_MAN_DIR}/${program}.1
    DEPENDS ${program} ${include_files}
    COMMENT "Generating the man page of ${program}"
    VERBATIM)
  list(APPEND FJ_MAN_PAGES ${FJ_MAN_DIR}/${program}.1.gz)
endforeach()

# The documents the man pages and the README point to, in the package's doc
# directory. Each is over 4 kB, so Debian policy wants it compressed with
# gzip -9n, as the changelog below.
set(FJ_DOCS)
foreach(doc README.md docs/operations.md docs/protocol.md docs/fleet.md docs/format.md
            docs/design.md docs/vm-manager-disk.md)
  get_filename_component(name ${doc} NAME)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/doc/${name}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/doc
    COMMAND ${FJ_GZIP} -9nc ${PROJECT_SOURCE_DIR}/${doc} > ${CMAKE_BINARY_DIR}/doc/${name}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/${doc}
    VERBATIM)
  list(APPEND FJ_DOCS ${CMAKE_BINARY_DIR}/doc/${name}.gz)
endforeach()

# Debian policy wants the changelog compressed with gzip -9n as well.
set(FJ_DEB_CHANGELOG ${CMAKE_BINARY_DIR}/changelog.Debian.gz)
add_custom_command(
  OUTPUT ${FJ_DEB_CHANGELOG}
  COMMAND ${FJ_GZIP} -9nc ${PROJECT_SOURCE_DIR}/packaging/debian/changelog > ${FJ_DEB_CHANGELOG}
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/debian/changelog
  VERBATIM)
add_custom_target(fj_package_docs ALL DEPENDS ${FJ_MAN_PAGES} ${FJ_DEB_CHANGELOG} ${FJ_DOCS})

install(FILES ${FJ_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright ${FJ_DEB_CHANGELOG} ${FJ_DOCS}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME forkjournal)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGE_CONTACT "forkjournal maintainers <maintainers@users.noreply.r-seed-f32681d2.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "event-sourced fork counts for VM templates")
set(CPACK_PACKAGE_DESCRIPTION
    "forkjournal records VM template fork and unfork events in an append-only,
hash-chained LMDB journal and rebuilds the fork counts by replay. The
daemon forkjournald serves the journal to VM managers over a Unix socket
and reconciles it with the VM manager's disk; the forkjournal tool reads,
audits and repairs it. forkjournal-crashtest checks that a kill or a power
loss loses no acknowledged write. The package also holds the static
libraries, headers and CMake package for embedding the journal.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
