// expect: ignoring return value|unused-result|nodiscard
// A coro is [[nodiscard]]: calling a coroutine and dropping it is a bug (it never runs).
#include "aio/aio.hpp"
aio::coro<int> work() { co_return 1; }
void f() { work(); }
