// expect: can only co_await aio awaitables
// A foreign awaitable would resume the coroutine outside of its task.
#include <coroutine>
#include "aio/aio.hpp"
aio::coro<void> f() { co_await std::suspend_always{}; }
