// SPDX-License-Identifier: MIT
// Port of CPython test_asyncio (see tests/conformance/README.md).
#include "aio/aio.hpp"
#include "aio/testing.hpp"
