/*
 * fuzz_http.c - libFuzzer target for the HTTP/1.1 request parser of the
 * example server (examples/http_proto.c, through http_process).
 *
 * A connection is simulated as examples/http_proto.c's connection task
 * runs it: bytes arrive into a buffer of HTTP_IN_CAP, http_process answers
 * what is complete, the consumed bytes are removed, and the loop goes on
 * (at once when the write buffer filled up, else after the next read)
 * until the batch says close or the input ends.
 *
 * Input layout:
 *   byte 0      bits 0-3: number of split points k (0..15)
 *               bits 4-6: write-buffer size of the split run, 512 + 1024 * n
 *               bit 7:    split after every byte instead (bytes <= 1024)
 *   k x 2 bytes split points (little endian, modulo the data length + 1)
 *   the rest    the bytes the client sends, where FF FF n c stands for
 *               (n + 1) * 64 bytes c, so that a small input reaches the
 *               limits (HTTP_MAX_HEADER, HTTP_MAX_TARGET, HTTP_IN_CAP)
 *
 * The data are run twice: whole (each read takes all that fits, write
 * buffer HTTP_OUT_CAP), and split at the chosen points (each read stops at
 * the next one) with the chosen write buffer. The parser promises that its
 * answer does not depend on how the input was split, so both runs must
 * give the same response stream (the Date values masked, and the interim
 * "100 Continue" left out: it is sent only when the body has not come
 * yet, which is a matter of timing), the same close decision, error and
 * last status, and (without an error, which consumes all it was given)
 * the same number of bytes left unconsumed. Also checked at each call:
 * consumed and out_len within bounds (the buffers are heap blocks of
 * their exact size, so ASan sees an overrun; and the part of the read
 * buffer past the bytes given is poisoned during the call, so a read
 * beyond @len, of stale bytes of an earlier read, is caught), and progress: a full read
 * buffer is always answered (else the server would wait forever). A
 * failed check calls abort(). With FUZZ_HTTP_VERBOSE=1 in the
 * environment, the whole run's responses are printed (to read what a
 * corpus file does: ./fuzz_http FILE).
 */
#include "http_proto.h"

#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", \
				#cond, __LINE__);                                \
			abort();                                                 \
		}                                                                \
	} while (0)

#define MAX_SPLITS 15
#define BYTEWISE_MAX 1024
#define EXPANDED_MAX 20480   /* past HTTP_IN_CAP, and not much: speed */

/* What one run of a connection gave. */
struct run {
	char *out;         /* response stream, 100s left out, dates masked */
	size_t out_len, out_cap;
	size_t consumed;   /* input bytes answered in all */
	size_t continues;  /* interim 100 responses seen */
	bool close, error;
	int last_status;
};

static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void append(struct run *r, const char *s, size_t n)
{
	if (r->out_len + n > r->out_cap) {
		size_t cap = r->out_cap ? r->out_cap * 2 : 16384;
		while (cap < r->out_len + n)
			cap *= 2;
		r->out = realloc(r->out, cap);
		CHECK(r->out);
		r->out_cap = cap;
	}
	memcpy(r->out + r->out_len, s, n);
	r->out_len += n;
}

/* Adds one batch of output, without its 100 responses, dates masked. */
static void add_batch(struct run *r, const char *o, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (n - i >= sizeof cont - 1 && !memcmp(o + i, cont, sizeof cont - 1)) {
			r->continues++;
			i += sizeof cont - 1;
			continue;
		}
		if (n - i >= 6 + HTTP_DATE_LEN && !memcmp(o + i, "Date: ", 6)) {
			append(r, "Date: ", 6);
			for (int k = 0; k < HTTP_DATE_LEN; k++)
				append(r, "#", 1);
			i += 6 + HTTP_DATE_LEN;
			continue;
		}
		append(r, o + i, 1);
		i++;
	}
}

/*
 * Runs a connection over data[0..len): reads end at the cut points
 * cuts[0..ncuts) (ascending) or when the read buffer is full; @out_cap is
 * the write buffer.
 */
static void run_conn(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
		     size_t out_cap, struct run *r)
{
	memset(r, 0, sizeof *r);
	char *in = malloc(HTTP_IN_CAP);
	char *out = malloc(out_cap);
	CHECK(in && out);
	size_t in_len = 0, fed = 0, next = 0;
	http_batch b;
	memset(&b, 0, sizeof b);
	for (;;) {
		/* http_process may read in[0..in_len) only. */
		ASAN_POISON_MEMORY_REGION(in + in_len, HTTP_IN_CAP - in_len);
		http_process(in, in_len, out, out_cap, &b);
		ASAN_UNPOISON_MEMORY_REGION(in + in_len, HTTP_IN_CAP - in_len);
		CHECK(b.consumed <= in_len);
		CHECK(b.out_len <= out_cap);
		/* A full read buffer must be answered: the server reads no
		 * more into it, and would wait forever. */
		CHECK(in_len < HTTP_IN_CAP || b.consumed > 0 || b.close);
		add_batch(r, out, b.out_len);
		if (b.last_status)
			r->last_status = b.last_status;
		memmove(in, in + b.consumed, in_len - b.consumed);
		in_len -= b.consumed;
		r->consumed += b.consumed;
		if (b.close) {
			r->close = true;
			r->error = b.error;
			CHECK(b.last_status != 0);
			break;
		}
		if (b.consumed && in_len)
			continue;   /* the write buffer was full: answer the rest */
		if (fed == len)
			break;      /* the client is done: EOF */
		while (next < ncuts && cuts[next] <= fed)
			next++;
		size_t end = next < ncuts ? cuts[next] : len;
		size_t n = end - fed;
		if (n > HTTP_IN_CAP - in_len)
			n = HTTP_IN_CAP - in_len;
		CHECK(n > 0);
		memcpy(in + in_len, data + fed, n);
		in_len += n;
		fed += n;
	}
	free(in);
	free(out);
}

/* Expands the FF FF n c runs of in[0..len) into out; returns the length. */
static size_t expand(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o < EXPANDED_MAX;) {
		if (len - i >= 4 && in[i] == 0xff && in[i + 1] == 0xff) {
			size_t n = ((size_t)in[i + 2] + 1) * 64;
			if (n > EXPANDED_MAX - o)
				n = EXPANDED_MAX - o;
			memset(out + o, in[i + 3], n);
			o += n;
			i += 4;
		} else {
			out[o++] = in[i++];
		}
	}
	return o;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned k = data[0] & 15;
	size_t split_cap = 512 + 1024 * (size_t)((data[0] >> 4) & 7);
	bool bytewise = data[0] & 0x80;
	if (size < 1 + 2 * (size_t)k)
		return 0;
	static uint8_t msg[EXPANDED_MAX];
	size_t len = expand(data + 1 + 2 * k, size - 1 - 2 * k, msg);
	if (bytewise && len > BYTEWISE_MAX)
		return 0;

	static size_t cuts[BYTEWISE_MAX];
	size_t ncuts = 0;
	if (bytewise) {
		for (size_t i = 1; i < len; i++)
			cuts[ncuts++] = i;
	} else {
		for (unsigned i = 0; i < k; i++)
			cuts[ncuts++] = (size_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8) % (len + 1);
		qsort(cuts, ncuts, sizeof cuts[0], cmp_size);
	}

	struct run whole, split;
	run_conn(msg, len, NULL, 0, HTTP_OUT_CAP, &whole);
	run_conn(msg, len, cuts, ncuts, split_cap, &split);

	static int verbose = -1;
	if (verbose < 0)
		verbose = getenv("FUZZ_HTTP_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "fuzz_http: %zu bytes in, %zu consumed, close %d, error %d, "
			"last status %d, %zu 100s; responses:\n%.*s\n", len, whole.consumed,
			whole.close, whole.error, whole.last_status, whole.continues,
			(int)whole.out_len, whole.out ? whole.out : "");
	CHECK(split.close == whole.close);
	CHECK(split.error == whole.error);
	CHECK(split.last_status == whole.last_status);
	if (!whole.error)
		CHECK(split.consumed == whole.consumed);
	CHECK(split.out_len == whole.out_len);
	CHECK(whole.out_len == 0 || memcmp(split.out, whole.out, whole.out_len) == 0);
	free(whole.out);
	free(split.out);
	return 0;
}
