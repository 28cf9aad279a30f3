// expect: deleted
// A queue's maxsize is a count: 1.5 does not compile (asyncio rejects it at run time;
// without the deleted overload it would silently become 1 through std::optional).
#include "aio/sync/queue.hpp"
void f() {
  aio::queue<int> q(1.5);
}
