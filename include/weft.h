/*
 * weft.h - the whole public API of weft, an async I/O runtime for C.
 * Include this, or the area headers under weft/ one by one.
 */
#ifndef WEFT_H
#define WEFT_H

#include <weft/core.h>
#include <weft/runtime.h>
#include <weft/time.h>
#include <weft/net.h>
#if __has_include(<weft/sync.h>)
#include <weft/sync.h>
#endif
#if __has_include(<weft/blocking.h>)
#include <weft/blocking.h>
#endif
#if __has_include(<weft/signal.h>)
#include <weft/signal.h>
#endif

#endif /* WEFT_H */
