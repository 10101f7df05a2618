// What a SIGINT or SIGTERM leaves behind: nothing. The harness registers the
// temporary directories it makes (TempDir) and the helper processes it runs
// (nats-server, its own fresh-process children); on either signal a
// dedicated thread stops the processes (SIGTERM, SIGKILL after 5 s), removes
// the directories and ends the process with _exit(128 + signal).
//
// Why a thread and not a handler: removing a directory tree allocates and
// takes locks, which a signal handler must not. The signals are blocked in
// every thread and taken with sigwait() by the cleanup thread, where any
// call is allowed.
//
// Errors: start_stop_cleanup() returns io_error (errno in the message) when
// the signals cannot be blocked or the thread cannot start.
// Threads and lifetime: start_stop_cleanup() once, first thing in main,
// before any other thread (threads inherit the blocked mask); the thread
// lives until the process ends. The other functions are safe from any
// thread, also without start_stop_cleanup() (the registry is then unused).
#pragma once

#include "journal/error.h"

#include <sys/types.h>

#include <string>

namespace fj::bench {

Result<void> start_stop_cleanup();

// A directory to remove on a stop signal.
void track_dir(const std::string& path);
// Removes `path` with everything in it and forgets it, as one step the
// cleanup thread cannot cut in two (it waits, then finds nothing to remove).
void remove_tracked_dir(const std::string& path);

// A child process to stop on a stop signal; forget it before reaping it.
void track_child(pid_t pid);
void forget_child(pid_t pid);

// Returns at once, unless the cleanup thread is at work: then never (it ends
// the process). Called before reporting, so that a run the signal cut short
// prints no error caused by its files vanishing.
void wait_unless_stopping();

}  // namespace fj::bench
