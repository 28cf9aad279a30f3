// expect: string_view|conversion|no matching|could not convert
// Options structs hold views (docs/hazards.md): a std::string temporary is not taken as
// the name, only things convertible to std::string_view.
#include <string>
#include "aio/aio.hpp"
aio::coro<void> work() { co_return; }
struct not_a_string {};
void f() { aio::create_task(work(), {.name = not_a_string{}}); }
