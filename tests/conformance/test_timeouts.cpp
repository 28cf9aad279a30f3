// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_timeouts.py (see tests/conformance/README.md).
#include "aio/aio.hpp"
#include "aio/testing.hpp"
