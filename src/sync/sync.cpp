// SPDX-License-Identifier: MIT
// The aio::sync layer (locks, events, conditions, semaphores, barriers, queues, channels,
// rate limiting). Most of it is header-only; this file anchors the library.
#include "aio/sync/lock.hpp"
