# `cmake --install` puts the libraries, headers, binaries, the systemd unit and
# a CMake package in place, so an embedder writes find_package(forkjournal)
# and links forkjournal::service (or ::journal, ::projector, ::gc).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FJ_LIBRARIES fj_journal fj_projector fj_fleet fj_gc fj_present fj_service fj_dispatcher)
set_target_properties(fj_journal PROPERTIES EXPORT_NAME journal)
set_target_properties(fj_projector PROPERTIES EXPORT_NAME projector)
set_target_properties(fj_fleet PROPERTIES EXPORT_NAME fleet)
set_target_properties(fj_gc PROPERTIES EXPORT_NAME gc)
set_target_properties(fj_present PROPERTIES EXPORT_NAME present)
set_target_properties(fj_service PROPERTIES EXPORT_NAME service)
set_target_properties(fj_dispatcher PROPERTIES EXPORT_NAME dispatcher)

install(TARGETS ${FJ_LIBRARIES} EXPORT forkjournalTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS forkjournal forkjournald RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The contract an embedder compiles against; everything under an internal/
# folder (LMDB wrappers, the page walker, byte codecs, ...) stays private.
# tests/public_headers_check.sh proves each one stands alone without them.
set(FJ_PUBLIC_HEADERS
    journal/chain.h journal/chain_cursor.h journal/codec.h journal/error.h journal/event.h journal/events.h
    journal/head_watch.h journal/hex.h journal/ids.h journal/journal.h journal/request_window.h journal/seq.h journal/verify.h
    projector/audit.h projector/decide.h projector/huge_page_allocator.h projector/id.h
    projector/fork_table.h projector/id_equal.h projector/id_hash.h projector/ledger.h
    projector/projection.h projector/replay.h
    fleet/fleet_view.h fleet/journal_fold.h fleet/ship_host.h fleet/shipper.h fleet/stream.h
    fleet/stream_setup.h
    fleet/witness.h
    gc/importer.h gc/recent_forks.h gc/reconciler.h gc/scanner.h
    daemon/dispatcher.h daemon/head_signal.h daemon/health.h daemon/observer.h daemon/protocol.h daemon/service.h)
foreach(header IN LISTS FJ_PUBLIC_HEADERS)
  get_filename_component(dir ${header} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/${header}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/forkjournal/${dir})
endforeach()
# systemd reads units from lib/systemd/system, never from a multiarch libdir
# (CMAKE_INSTALL_LIBDIR is lib/x86_64-linux-gnu under /usr on Debian). The
# Debian package sets /lib/systemd/system, where Debian 12 keeps its units.
set(FJ_SYSTEMD_UNIT_DIR lib/systemd/system CACHE STRING
    "Where the systemd unit is installed (relative: under the prefix)")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/forkjournald.service
        DESTINATION ${FJ_SYSTEMD_UNIT_DIR})
# The drop-in that gives the unit, which has no network, one for --ship and
# --metrics (docs/operations.md).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/examples/network.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(FJ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/forkjournal)
install(EXPORT forkjournalTargets NAMESPACE forkjournal:: DESTINATION ${FJ_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/forkjournalConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/forkjournalConfig.cmake
                              INSTALL_DESTINATION ${FJ_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/forkjournalConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/forkjournalConfig.cmake
              ${CMAKE_BINARY_DIR}/forkjournalConfigVersion.cmake
        DESTINATION ${FJ_CMAKE_DIR})
