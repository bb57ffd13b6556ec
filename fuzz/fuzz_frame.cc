// fuzz_frame.cc - libFuzzer target: kuniq's frame parser against itself and two reference parsers.
//
// For every input (one frame) it checks, and aborts on any disagreement:
//  1. the scalar and AVX2 paths give the same status, uid (same bytes of the buffer) and ts, and
//     the AVX2 path's own verdict (before frame_parse's scalar fallback) is "invalid" exactly when
//     the frame is invalid;
//  2. validity ("is one RFC 8259 JSON value") agrees with jansson and with simdjson's DOM parser,
//     except where a reference has a documented limit (see docs/parser.md, "Differential fuzzing"):
//     nesting (our limit is 1024 levels, jansson's 2048, simdjson's 1024 counted differently),
//     numbers a double or 64-bit integer cannot hold (valid JSON, rejected by both), unpaired
//     surrogate escapes (valid per the RFC 8259 grammar, rejected by both), \u0000 in a key and
//     raw NUL bytes (jansson stops reading at one), and simdjson's string and number errors (they
//     also cover the exclusions above; jansson still checks escapes and numbers);
//  3. when simdjson parsed the frame: the reason (not_object, no/dup/bad uid, no/dup/bad ts) and
//     the extracted uid and ts follow docs/semantics.md, computed from simdjson's DOM (which keeps
//     duplicate keys): uid is compared after decoding our raw bytes with jansson; ts numbers are
//     compared with the floor of simdjson's double where a double can tell. simdjson decodes
//     strings, but a ts string must be digits as they appear in the frame ("\u0031" is bad_ts):
//     the raw bytes of each top-level value are found by a walk of the frame (raw_values), and a
//     ts string holding a backslash is expected to be bad_ts. No other difference is excused.
// The input is copied into a buffer of exactly size + FRAME_PADDING bytes, so ASan reports any
// read beyond the padding.
#include <jansson.h>
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include "frame.h"
#include "frame_internal.h"
}

namespace
{

[[noreturn]] void disagree(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_frame: DISAGREEMENT: %s\ninput (%zu bytes): ", what, size);
	for (size_t i = 0; i < size && i < 400; i++)
		fputc(data[i] >= 0x20 && data[i] < 0x7F ? data[i] : '.', stderr);
	fputc('\n', stderr);
	abort();
}

bool invalid(frame_status s)
{
	return s == FRAME_EMPTY || s == FRAME_NOT_JSON || s == FRAME_TOO_DEEP;
}

// Decodes a raw JSON string body with jansson; false if jansson cannot (e.g. lone surrogates).
bool decode(const char *raw, size_t len, std::string *out)
{
	std::string q = "\"" + std::string(raw, len) + "\"";
	json_error_t err;
	json_t *v = json_loadb(q.data(), q.size(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (!v)
		return false;
	bool ok = json_is_string(v);
	if (ok)
		out->assign(json_string_value(v), json_string_length(v));
	json_decref(v);
	return ok;
}

bool digits18(std::string_view s, int64_t *v)
{
	if (s.empty() || s.size() > 18)
		return false;
	int64_t x = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (c - '0');
	}
	*v = x;
	return true;
}

// The raw bytes of every top-level member's value, in order, of a frame known to be one valid
// JSON object (simdjson parsed it). Empty when the walk fails, which cannot happen for valid JSON.
size_t skip_ws(std::string_view f, size_t i)
{
	while (i < f.size() && (f[i] == ' ' || f[i] == '\t' || f[i] == '\n' || f[i] == '\r'))
		i++;
	return i;
}

// Index just past the string starting at f[i] == '"', or npos.
size_t skip_string(std::string_view f, size_t i)
{
	for (i++; i < f.size(); i++) {
		if (f[i] == '\\')
			i++;
		else if (f[i] == '"')
			return i + 1;
	}
	return std::string_view::npos;
}

// Index just past the value starting at f[i], or npos.
size_t skip_value(std::string_view f, size_t i)
{
	if (i >= f.size())
		return std::string_view::npos;
	if (f[i] == '"')
		return skip_string(f, i);
	int depth = 0;
	for (; i < f.size(); i++) {
		char c = f[i];
		if (c == '"') {
			i = skip_string(f, i);
			if (i == std::string_view::npos)
				return i;
			i--;
		} else if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (depth == 0)
				return i; // the end of a scalar at the end of the enclosing object
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 &&
		           (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
			return i;
		}
	}
	return depth == 0 ? i : std::string_view::npos;
}

std::vector<std::string_view> raw_values(std::string_view f)
{
	std::vector<std::string_view> out;
	size_t i = skip_ws(f, 0);
	if (i >= f.size() || f[i] != '{')
		return {};
	i = skip_ws(f, i + 1);
	if (i < f.size() && f[i] == '}')
		return out;
	while (i < f.size() && f[i] == '"') {
		i = skip_string(f, i);
		if (i == std::string_view::npos)
			return {};
		i = skip_ws(f, i);
		if (i >= f.size() || f[i] != ':')
			return {};
		size_t v = skip_ws(f, i + 1), e = skip_value(f, v);
		if (e == std::string_view::npos)
			return {};
		out.push_back(f.substr(v, e - v));
		i = skip_ws(f, e);
		if (i < f.size() && f[i] == ',')
			i = skip_ws(f, i + 1);
		else
			return i < f.size() && f[i] == '}' ? out : std::vector<std::string_view>{};
	}
	return {};
}

// What the semantics say about a frame simdjson parsed; ts_kind tells how to check ts.
enum ts_kind { TS_EXACT, TS_NEAR, TS_SKIP, TS_DIGITS };
struct expected {
	frame_status st;
	std::string_view uid;
	int64_t ts;
	ts_kind kind;
};

// How a ts value fares: usable (value in *v, kind in *k), unusable, or a double that cannot tell.
enum ts_verdict { TS_USABLE, TS_BAD, TS_UNSURE };
ts_verdict judge_ts(simdjson::dom::element tv, std::string_view raw, int64_t *v, ts_kind *k)
{
	int64_t i;
	uint64_t u;
	double d;
	std::string_view s;
	*k = TS_EXACT;
	if (!tv.get_int64().get(i)) {
		*v = i;
		return TS_USABLE;
	}
	if (!tv.get_uint64().get(u))
		return TS_BAD; // above INT64_MAX
	if (!tv.get_double().get(d)) {
		const double two63 = 9223372036854775808.0;
		if (d >= two63 * 1.0001 || d <= -two63 * 1.0001)
			return TS_BAD;
		if (std::fabs(d) >= 9007199254740992.0) // 2^53: a double cannot tell
			return TS_UNSURE;
		double f = std::floor(d),
		       ulp = std::nextafter(std::fabs(d), INFINITY) - std::fabs(d);
		*v = int64_t(f);
		*k = (d - f > 2 * ulp && f + 1 - d > 2 * ulp) ? TS_EXACT : TS_NEAR;
		return TS_USABLE;
	}
	if (!tv.get_string().get(s)) {
		// digits as they appear in the frame: an escape makes the string bad_ts
		if (!digits18(s, v) || raw.find('\\') != std::string_view::npos)
			return TS_BAD;
		*k = TS_DIGITS;
		return TS_USABLE;
	}
	return TS_BAD; // object, array, boolean, null
}

// The reason the semantics give (in the order of docs/semantics.md's table: no, bad, dup).
// st == FRAME_STATUS_COUNT: a huge double could not tell bad_ts from the rest.
expected expect_from_dom(simdjson::dom::element root, std::string_view frame, const frame_parser *p,
                         const uint8_t *data)
{
	using namespace simdjson;
	expected e{FRAME_OK, {}, 0, TS_EXACT};
	dom::object obj;
	if (root.get_object().get(obj)) {
		e.st = FRAME_NOT_OBJECT;
		return e;
	}
	std::string_view uidk(p->uid_key, p->uid_key_len), tsk(p->ts_key, p->ts_key_len);
	std::vector<std::string_view> raw = raw_values(frame);
	if (raw.size() != obj.size())
		disagree("the fuzz target's walk of the frame found another number of members",
		         data, frame.size());
	int nu = 0, nt = 0;
	bool uid_bad = false, ts_bad = false, ts_unsure = false;
	size_t member = 0;
	for (auto field : obj) {
		std::string_view raw_value = raw[member++];
		if (field.key == uidk) {
			nu++;
			if (field.value.get_string().get(e.uid))
				uid_bad = true;
		}
		if (field.key == tsk) {
			nt++;
			ts_verdict v = judge_ts(field.value, raw_value, &e.ts, &e.kind);
			ts_bad |= v == TS_BAD;
			ts_unsure |= v == TS_UNSURE;
		}
	}
	if (nu == 0)
		e.st = FRAME_NO_UID;
	else if (uid_bad)
		e.st = FRAME_BAD_UID;
	else if (nu > 1)
		e.st = FRAME_DUP_UID;
	else if (nt == 0)
		e.st = FRAME_NO_TS;
	else if (ts_bad)
		e.st = FRAME_BAD_TS;
	else if (ts_unsure)
		e.st = FRAME_STATUS_COUNT, e.kind = TS_SKIP;
	else if (nt > 1)
		e.st = FRAME_DUP_TS;
	return e;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = static_cast<uint8_t *>(malloc(size + FRAME_PADDING));
	if (size)
		memcpy(buf, data, size);
	memset(buf + size, size ? data[0] : '"', FRAME_PADDING); // padding content must not matter
	const char *b = reinterpret_cast<const char *>(buf);

	// 1. scalar vs AVX2
	frame_parser ps, pa;
	frame_parser_init(&ps, "uid", "ts", FRAME_IMPL_SCALAR);
	frame fs = {}, fa = {};
	frame_status ss = frame_parse(&ps, b, size, &fs);
	if (frame_parser_init(&pa, "uid", "ts", FRAME_IMPL_AVX2) == 0) {
		frame_status sa = frame_parse(&pa, b, size, &fa);
		if (sa != ss)
			disagree("scalar and AVX2 statuses differ", data, size);
		if (ss == FRAME_OK &&
		    (fs.uid != fa.uid || fs.uid_len != fa.uid_len || fs.ts != fa.ts))
			disagree("scalar and AVX2 extract different uid/ts", data, size);
		frame fr;
		frame_status raw = frame_parse_avx2(&pa, b, size, &fr);
		bool bad = ss == FRAME_NOT_JSON || ss == FRAME_TOO_DEEP;
		if (bad ? raw != FRAME_NOT_JSON : raw != ss)
			disagree("AVX2 path alone misjudges validity", data, size);
	}
	bool ours_valid = !invalid(ss);
	bool deep = ss == FRAME_TOO_DEEP;

	// 2a. jansson (it takes a raw NUL byte for the end of its input: such inputs are left to
	// simdjson)
	json_error_t jerr;
	json_t *jv = nullptr;
	bool has_nul = memchr(data, 0, size) != nullptr;
	if (!has_nul)
		jv = json_loadb(b, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (has_nul) {
	} else if (jv) {
		json_decref(jv);
		if (!ours_valid && !deep)
			disagree("jansson accepts, we reject", data, size);
	} else {
		enum json_error_code c = json_error_code(&jerr);
		bool limit = c == json_error_stack_overflow || c == json_error_numeric_overflow ||
		             c == json_error_null_byte_in_key ||
		             strncmp(jerr.text, "invalid Unicode", 15) == 0;
		if (ours_valid && !limit)
			disagree("jansson rejects, we accept", data, size);
	}

	// 2b. simdjson (the buffer has SIMDJSON_PADDING == FRAME_PADDING readable bytes)
	static simdjson::dom::parser sp;
	simdjson::dom::element root;
	simdjson::error_code se = sp.parse(buf, size, false).get(root);
	if (se == simdjson::SUCCESS) {
		if (!ours_valid && !deep)
			disagree("simdjson accepts, we reject", data, size);
	} else {
		bool limit = se == simdjson::DEPTH_ERROR || se == simdjson::NUMBER_ERROR ||
		             se == simdjson::STRING_ERROR || se == simdjson::NUMBER_OUT_OF_RANGE;
		if (ours_valid && !limit)
			disagree("simdjson rejects, we accept", data, size);
	}

	// 3. reasons and extraction, from simdjson's DOM
	if (se == simdjson::SUCCESS && ours_valid) {
		expected e = expect_from_dom(root, std::string_view(b, size), &ps, data);
		// a huge double may or may not fit in 63 bits once floored: a double cannot tell
		bool unsure = e.st == FRAME_STATUS_COUNT &&
		              (ss == FRAME_OK || ss == FRAME_BAD_TS || ss == FRAME_DUP_TS);
		if (ss != e.st && !unsure)
			disagree("reason differs from the semantics", data, size);
		if (ss == FRAME_OK) {
			std::string dec;
			if (!decode(fs.uid, fs.uid_len, &dec) || dec != e.uid)
				disagree("uid differs", data, size);
			bool ts_ok =
			    e.kind == TS_SKIP || fs.ts == e.ts ||
			    (e.kind == TS_NEAR && (fs.ts == e.ts - 1 || fs.ts == e.ts + 1));
			if (!ts_ok)
				disagree("ts differs", data, size);
		}
	}
	free(buf);
	return 0;
}
