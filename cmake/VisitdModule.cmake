# One helper makes every module: a static library `visitd_<name>` (alias `visitd::<name>`) from
# the folder's sources, our warning flags, and one test executable per
# `tests/unit/<name>/*.test.cpp` file, each test case registered with CTest.
#
#   visitd_add_module(NAME storage
#     SOURCES rocksdb_store.cpp ...
#     DEPS visitd::domain            # our modules this one builds on (PUBLIC)
#     PRIVATE_DEPS RocksDB::rocksdb-shared   # third-party, hidden from users of the module
#     TEST_DEPS ...)                 # extra libraries for this module's tests only

add_library(visitd_warnings INTERFACE)
target_compile_options(visitd_warnings INTERFACE -Wall -Wextra -Werror)

function(visitd_add_module)
  cmake_parse_arguments(M "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS;TEST_DEPS" ${ARGN})
  set(target visitd_${M_NAME})
  add_library(${target} STATIC ${M_SOURCES})
  add_library(visitd::${M_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC "${PROJECT_SOURCE_DIR}")
  target_link_libraries(${target} PUBLIC ${M_DEPS} PRIVATE visitd_warnings ${M_PRIVATE_DEPS})

  if(VISITD_BUILD_TESTS)
    file(GLOB test_sources CONFIGURE_DEPENDS
         "${PROJECT_SOURCE_DIR}/tests/unit/${M_NAME}/*.test.cpp")
    foreach(test_source IN LISTS test_sources)
      get_filename_component(test_name "${test_source}" NAME_WE)
      set(test_target test_${M_NAME}_${test_name})
      add_executable(${test_target} "${test_source}")
      target_link_libraries(${test_target} PRIVATE ${target} ${M_PRIVATE_DEPS} ${M_TEST_DEPS}
                            visitd_warnings GTest::gtest GTest::gtest_main)
      # PRE_TEST discovery keeps test listing out of the build (CI builds twice).
      gtest_discover_tests(${test_target} DISCOVERY_MODE PRE_TEST
                           TEST_PREFIX "${M_NAME}." PROPERTIES LABELS "unit")
    endforeach()
  endif()
endfunction()
