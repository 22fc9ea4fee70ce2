/*
 * fuzz_chunked.c - libFuzzer driver for the chunked decoder
 * (http_chunked_decode() in src/http/http_chunked.c), used for upload
 * bodies and for bodies from peers.
 *
 * The input is a chunked body as it follows a head. Besides crashes and UB,
 * the driver checks what upload.c and peer.c rely on:
 *   - the decoder gives the same data, result and end whether the body
 *     comes at once, in up to four feeds cut where the input says, or one
 *     byte at a time;
 *   - data never outgrows what it came from; MORE consumes everything;
 *     after DONE nothing more is taken, and the bytes after the end are
 *     left for the next message;
 *   - the input, used as a payload and chunk-encoded with sizes,
 *     extensions and a trailer it picks, decodes back to exactly itself.
 * Seeds: t/fuzz/corpus/chunked/, dictionary: t/fuzz/chunked.dict.
 */
#include "fuzz_common.h"

struct outcome {
	enum http_chunked_result r;
	size_t used;
	size_t got;
};

/* Feeds buf[0..size) in pieces ending at cuts[0..ncuts) (ascending, the
 * last one == size), the data gathered at the front of buf. */
static struct outcome
decode_feeds(char *buf, size_t size, const size_t *cuts, size_t ncuts)
{
	struct http_chunked c;
	struct outcome o = { HTTP_CHUNKED_MORE, 0, 0 };
	size_t i, from, to, used, got;

	http_chunked_init(&c);
	for (i = 0, from = 0; i < ncuts; i++, from = to) {
		to = cuts[i];
		o.r = http_chunked_decode(&c, buf + from, to - from, &used,
		    &got);
		CHECK(got <= used && used <= to - from);
		memmove(buf + o.got, buf + from, got);
		o.got += got;
		o.used += used;
		if (o.r != HTTP_CHUNKED_MORE)
			break;
		CHECK(used == to - from);
	}
	if (o.r == HTTP_CHUNKED_DONE) {
		o.r = http_chunked_decode(&c, buf, size, &used, &got);
		CHECK(o.r == HTTP_CHUNKED_DONE && used == 0 && got == 0);
	}
	return o;
}

static void
fuzz_splits(const uint8_t *data, size_t size)
{
	struct outcome o1, o2;
	char *a, *b, *c;
	size_t cuts[4], i, j, t;

	a = fuzz_dup(data, size);
	b = fuzz_dup(data, size);
	c = fuzz_dup(data, size);

	cuts[0] = size;
	o1 = decode_feeds(a, size, cuts, 1);
	CHECK(o1.r == HTTP_CHUNKED_DONE || o1.r == HTTP_CHUNKED_ERROR ||
	    o1.used == size);
	if (o1.r == HTTP_CHUNKED_DONE)
		CHECK(o1.got < o1.used);

	for (i = 0; i < 3; i++)
		cuts[i] = fuzz_pick(data, size, 1 + i * 7);
	cuts[3] = size;
	for (i = 1; i < 3; i++) {	/* sort the three cuts */
		for (j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
			t = cuts[j];
			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	}
	o2 = decode_feeds(b, size, cuts, 4);
	CHECK(o1.r == o2.r && o1.used == o2.used && o1.got == o2.got);
	CHECK(o1.got == 0 || memcmp(a, b, o1.got) == 0);

	/* One byte at a time: every state boundary falls between feeds. */
	{
		struct http_chunked d;
		size_t used, got, n = 0, out = 0;
		enum http_chunked_result r = HTTP_CHUNKED_MORE;

		http_chunked_init(&d);
		for (n = 0; n < size; n++) {
			r = http_chunked_decode(&d, c + n, 1, &used, &got);
			CHECK(used == 1 && got <= 1);
			if (got == 1)
				c[out++] = c[n];
			if (r != HTTP_CHUNKED_MORE)
				break;
		}
		CHECK(r == o1.r && out == o1.got);
		CHECK(r == HTTP_CHUNKED_MORE || n + 1 == o1.used);
		CHECK(out == 0 || memcmp(a, c, out) == 0);
	}
	free(a);
	free(b);
	free(c);
}

/* Chunk-encodes data[0..size) with choices taken from the data itself and
 * checks that it decodes back, with the bytes after the end left alone. */
static void
fuzz_roundtrip(const uint8_t *data, size_t size)
{
	static const char follow[] = "GET / HTTP/1.1\r\n";
	struct outcome o;
	size_t cap, len = 0, at = 0, n, k = 0, cut[1];
	char *enc;
	uint8_t sel;

	cap = size * 32 + 64 + sizeof(follow);
	enc = malloc(cap);
	CHECK(enc != NULL);
	while (at < size) {
		sel = data[k++ % size];
		n = (size_t)(sel & 0x3f) + 1;
		if (n > size - at)
			n = size - at;
		len += (size_t)snprintf(enc + len, cap - len,
		    sel & 0x80 ? "%s%zx" : "%s%zX", sel & 0x40 ? "000" : "", n);
		if ((sel & 0xc0) == 0xc0)
			len += (size_t)snprintf(enc + len, cap - len,
			    ";ext=\"v\";e");
		memcpy(enc + len, "\r\n", 2);
		memcpy(enc + len + 2, data + at, n);
		memcpy(enc + len + 2 + n, "\r\n", 2);
		len += n + 4;
		at += n;
	}
	sel = size > 0 ? data[size - 1] : 0;
	len += (size_t)snprintf(enc + len, cap - len, "0%s\r\n%s\r\n",
	    sel & 1 ? ";last" : "", sel & 2 ? "X-Digest: abc\r\nX-E:\r\n" : "");
	n = len;	/* where the body ends */
	memcpy(enc + len, follow, sizeof(follow) - 1);
	len += sizeof(follow) - 1;
	CHECK(len <= cap);

	cut[0] = len;
	o = decode_feeds(enc, len, cut, 1);
	CHECK(o.r == HTTP_CHUNKED_DONE);
	CHECK(o.used == n && o.got == size);
	CHECK(size == 0 || memcmp(enc, data, size) == 0);
	CHECK(memcmp(enc + n, follow, sizeof(follow) - 1) == 0);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_splits(data, size);
	fuzz_roundtrip(data, size);
	return 0;
}
