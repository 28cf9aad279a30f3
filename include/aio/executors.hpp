// SPDX-License-Identifier: MIT
// aio/executors.hpp — everything of the executors layer in one include: thread pools,
// to_thread and run_in_executor (aio/executors/thread_pool.hpp), process pools
// (aio/executors/process_pool.hpp), run_coroutine_threadsafe and concurrent_future
// (aio/executors/threadsafe.hpp).
#pragma once

#include "aio/executors/process_pool.hpp"
#include "aio/executors/thread_pool.hpp"
#include "aio/executors/threadsafe.hpp"
