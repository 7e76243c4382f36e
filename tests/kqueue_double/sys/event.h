/*
 * sys/event.h - in the simulated kqueue build only, the include path
 * makes <sys/event.h> this file, so the kqueue backend compiles here as
 * it does on a BSD or macOS: the declarations are the test double's
 * (../kqueue_double.h, which holds the semantics table).
 */
#ifndef KQUEUE_DOUBLE_SYS_EVENT_H
#define KQUEUE_DOUBLE_SYS_EVENT_H
#include "../kqueue_double.h"
#endif
