# Shared CMake helpers: warnings and the one way to add a test.
include_guard(GLOBAL)

# runnel_set_warnings(target): the project's warning set on one target.
function(runnel_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter
    # Designated initializers that leave fields at their defaults are the point of options
    # structs (house style B.6); GCC 12 warns about each omitted field.
    -Wno-missing-field-initializers)
  if(RUNNEL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# runnel_add_library(name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...]): a component library
# with includes rooted at the repository root and an alias Runnel::<name without prefix>.
function(runnel_add_library name)
  cmake_parse_arguments(ARG "" "ALIAS" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  runnel_set_warnings(${name})
  if(ARG_ALIAS)
    add_library(${ARG_ALIAS} ALIAS ${name})
  endif()
endfunction()

# runnel_add_test(name SOURCES ... DEPS ... [LABELS ...] [TIMEOUT seconds]): a GoogleTest binary
# registered with ctest, test by test. Label "unit" unless told otherwise.
function(runnel_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT RUNNEL_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  runnel_set_warnings(${name})
  include(GoogleTest)
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# Links a server executable with the allocator chosen at configure time (RUNNEL_WITH_JEMALLOC):
# its malloc then replaces glibc's for the whole process, libraries included.
function(runnel_use_server_allocator target)
  # Sanitizers bring their own malloc; a second one would hide what they look for.
  if(RUNNEL_WITH_JEMALLOC AND NOT CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    target_link_libraries(${target} PRIVATE PkgConfig::JEMALLOC)
  endif()
endfunction()
