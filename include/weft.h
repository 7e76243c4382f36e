/*
 * weft.h - the whole public API of weft, an async I/O runtime for C.
 * Include this, or the area headers under weft/ one by one. The
 * conventions every header follows (results, verbs, private storage) are
 * stated once in weft/core.h; every exported name is listed in weft.map.
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
