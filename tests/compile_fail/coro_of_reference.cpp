// expect: not supported
// A coro cannot return a reference (it would dangle once the frame is gone).
#include "aio/aio.hpp"
int x = 0;
aio::coro<int&> f() { co_return x; }
