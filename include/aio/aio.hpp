// SPDX-License-Identifier: MIT
// aio/aio.hpp — everything of aio's core runtime in one include.
#pragma once

#include "aio/core/coro.hpp"
#include "aio/core/errors.hpp"
#include "aio/core/event_loop.hpp"
#include "aio/core/function_ref.hpp"
#include "aio/core/future.hpp"
#include "aio/core/gather.hpp"
#include "aio/core/generator.hpp"
#include "aio/core/log.hpp"
#include "aio/core/outcome.hpp"
#include "aio/core/run.hpp"
#include "aio/core/shield.hpp"
#include "aio/core/task.hpp"
#include "aio/core/task_group.hpp"
#include "aio/core/wait.hpp"
#include "aio/core/with.hpp"
#include "aio/time/retry.hpp"
#include "aio/time/sleep.hpp"
#include "aio/time/timeout.hpp"
