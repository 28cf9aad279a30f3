# SPDX-License-Identifier: MIT
# Compiles SOURCE and passes if the compiler rejects it with a message matching the
# file's "// expect: REGEX" line: misuse of aio must not compile.
file(STRINGS "${SOURCE}" expect_line REGEX "^// expect: ")
string(REGEX REPLACE "^// expect: " "" expect "${expect_line}")
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
execute_process(
  COMMAND "${COMPILER}" -std=c++20 -fsyntax-only -Werror=unused-result -I${INCLUDE} ${flags} "${SOURCE}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
if(NOT "${out}${err}" MATCHES "${expect}")
  message(FATAL_ERROR "${SOURCE} failed to compile, but not with /${expect}/:\n${err}")
endif()
