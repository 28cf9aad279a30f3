// expect: deleted
// A coro runs once: it is awaited as an rvalue (co_await std::move(c)).
#include "aio/aio.hpp"
aio::coro<int> work() { co_return 1; }
aio::coro<int> f() {
  auto c = work();
  co_return co_await c;
}
