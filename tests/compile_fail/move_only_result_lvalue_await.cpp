// expect: move-only: co_await std::move
// Awaiting a task as an lvalue copies its value; a move-only value must be moved out.
#include <memory>
#include "aio/aio.hpp"
aio::coro<std::unique_ptr<int>> make() { co_return std::make_unique<int>(1); }
aio::coro<void> f() {
  auto t = aio::create_task(make());
  auto p = co_await t;
}
