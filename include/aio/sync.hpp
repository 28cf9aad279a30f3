// SPDX-License-Identifier: MIT
// aio/sync.hpp — the whole sync layer in one include: asyncio's synchronization
// primitives (locks.py), queues (queues.py), a channel between loops in different
// threads, and the rate limiter. A new public header of the layer is added here.
#pragma once

#include "aio/sync/barrier.hpp"
#include "aio/sync/channel.hpp"
#include "aio/sync/condition.hpp"
#include "aio/sync/event.hpp"
#include "aio/sync/lock.hpp"
#include "aio/sync/queue.hpp"
#include "aio/sync/rate_limiter.hpp"
#include "aio/sync/semaphore.hpp"
