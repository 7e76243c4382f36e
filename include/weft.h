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
#include <weft/sync.h>
#include <weft/blocking.h>
#include <weft/fs.h>
#include <weft/signal.h>

#endif /* WEFT_H */
