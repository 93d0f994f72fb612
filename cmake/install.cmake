# What `cmake --install` lays out (GNUInstallDirs), and how other projects find
# it: pkg-config (attn.pc, attnrt.pc) and CMake (find_package(attn): targets
# attn::attn, attn::attn_static, attn::attnrt). See docs/API.md.
include(CMakePackageConfigHelpers)

install(TARGETS attn_shared attn attnrt EXPORT attnTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS attnc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# the public headers: the API (attn.h, attn_limits.h) and what AOT headers include
install(FILES ${ATTN_PUBLIC_HEADERS}
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/attn)
# the model zoo and the std library it imports
install(DIRECTORY models/ DESTINATION ${ATTN_INSTALL_MODELDIR} FILES_MATCHING PATTERN "*.attn")

install(EXPORT attnTargets NAMESPACE attn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attn)
configure_package_config_file(cmake/attnConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/attnConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attn)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/attnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attnConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/attnConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/attn)

file(RELATIVE_PATH ATTN_PC_TO_PREFIX ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(cmake/attn.pc.in ${CMAKE_CURRENT_BINARY_DIR}/attn.pc @ONLY)
configure_file(cmake/attnrt.pc.in ${CMAKE_CURRENT_BINARY_DIR}/attnrt.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attn.pc ${CMAKE_CURRENT_BINARY_DIR}/attnrt.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# the Python package, where Debian's python3 finds it under a prefix
# (PREFIX/LIBDIR/python3/dist-packages; add it to PYTHONPATH for other prefixes)
install(DIRECTORY python/attn DESTINATION ${CMAKE_INSTALL_LIBDIR}/python3/dist-packages
  FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
