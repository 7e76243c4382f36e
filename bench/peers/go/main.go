// main.go - the Go peer: an echo or raw HTTP/1.1 plaintext server on the
// standard library's net package, one goroutine per connection, the
// request heads parsed by hand (no net/http), the shape a Go user writes
// for a small protocol server.
//
//	go-echo --addr 127.0.0.1:PORT [--workers N]
//	go-http --addr 127.0.0.1:PORT [--workers N]
//
// bench/peers/go/build builds this file twice, choosing the mode with
// -ldflags "-X main.mode=echo|http". --workers sets GOMAXPROCS.
//
// HTTP answers each request head (request line and headers up to the
// blank line) with one response appended to a buffered writer, and
// flushes only when no further input is already buffered, so pipelined
// requests share a write. A ticker goroutine swaps in a new response with
// the current Date once a second.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

var mode = "echo"

var response atomic.Value // []byte: the whole response, Date included

func refreshResponse() {
	date := time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
	response.Store([]byte("HTTP/1.1 200 OK\r\n" +
		"Server: go\r\n" +
		"Content-Type: text/plain\r\n" +
		"Content-Length: 13\r\n" +
		"Date: " + date + "\r\n" +
		"\r\n" +
		"Hello, World!"))
}

func serveEcho(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func serveHTTP(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 16384)
	w := bufio.NewWriterSize(c, 16384)
	for {
		// One request head: lines up to an empty one.
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return // EOF, reset, or a line longer than the buffer
			}
			if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
				break
			}
		}
		if _, err := w.Write(response.Load().([]byte)); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	workers := flag.Int("workers", runtime.NumCPU(), "GOMAXPROCS")
	flag.Parse()
	runtime.GOMAXPROCS(*workers)
	refreshResponse()
	go func() {
		for range time.Tick(time.Second) {
			refreshResponse()
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serve := serveEcho
	if mode == "http" {
		serve = serveHTTP
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(time.Millisecond) // EMFILE and the like: back off
			continue
		}
		go serve(c)
	}
}
