// SPDX-License-Identifier: MIT
// Port of CPython's Lib/test/test_asyncio/test_taskgroups.py (see tests/conformance/README.md).
#include "aio/aio.hpp"
#include "aio/testing.hpp"
