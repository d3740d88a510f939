include(CMakePackageConfigHelpers)

install(DIRECTORY soap/include/ ews/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/generated/include/ews/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ews)

install(EXPORT ews-targets NAMESPACE ews:: FILE ews-targets.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ews)
configure_package_config_file(cmake/ews-config.cmake.in
  ${PROJECT_BINARY_DIR}/ews-config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ews)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ews-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ews-config.cmake
              ${PROJECT_BINARY_DIR}/ews-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ews)
