// SPDX-License-Identifier: MIT
// The aio::executors layer (thread and process pools, to_thread, run_in_executor,
// run_coroutine_threadsafe). This file anchors the library.
