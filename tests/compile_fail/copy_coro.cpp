// expect: deleted
// A coro is move-only.
#include "aio/aio.hpp"
aio::coro<int> work() { co_return 1; }
void f() {
  auto c = work();
  auto d = c;
}
