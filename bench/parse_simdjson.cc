// parse_simdjson.cc - peer benchmark: simdjson (Debian libsimdjson-dev) doing kuniq's extraction.
//
// Usage: parse_simdjson FILE [SECONDS [IMPL]]
// IMPL (e.g. haswell = AVX2, icelake = AVX-512) picks simdjson's kernel for the DOM modes (the
// default is the best this CPU has; On-Demand is compiled in, with this program's -march).
// Loads FILE (JSON lines), then for each mode parses every frame repeatedly for about SECONDS
// (default 2) of thread CPU time, keeping the best pass, and takes the top-level uid (string)
// and ts (number floored, or digit string) of every frame:
//   simdjson-dom        dom::parser::parse per frame (full validation, builds the tape)
//   simdjson-ondemand   ondemand::parser::iterate per frame, find_field_unordered (validates
//                       only what it visits)
//   simdjson-many       dom::parser::parse_many over the whole buffer (its JSON-lines mode)
// Prints per mode: <name> <MB/s> <frames/s> <valid frames> <sum of ts + uid length>, the same
// columns as parse_bench.c, so bench/parse.sh can put them in one table.
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

using namespace simdjson;

namespace
{

double cpu_now()
{
	timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct span {
	size_t off, len;
};

struct tally {
	uint64_t ok = 0, sum = 0;
};

bool ts_from_string(std::string_view s, int64_t *ts)
{
	if (s.empty() || s.size() > 18)
		return false;
	int64_t v = 0;
	for (char c : s) {
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*ts = v;
	return true;
}

void add_dom(dom::element doc, tally &t)
{
	dom::object obj;
	if (doc.get_object().get(obj))
		return;
	std::string_view uid;
	if (obj["uid"].get_string().get(uid))
		return;
	dom::element ts = obj["ts"];
	int64_t v;
	double d;
	std::string_view s;
	if (!ts.get_int64().get(v)) {
	} else if (!ts.get_double().get(d)) {
		v = int64_t(std::floor(d));
	} else if (ts.get_string().get(s) || !ts_from_string(s, &v)) {
		return;
	}
	t.ok++;
	t.sum += uint64_t(v) + uid.size();
}

template <typename F> void run(const char *name, double seconds, size_t bytes, size_t frames, F f)
{
	double best = 1e30, spent = 0;
	tally t;
	while (spent < seconds) {
		t = tally();
		double t0 = cpu_now();
		f(t);
		double dt = cpu_now() - t0;
		spent += dt;
		if (dt < best)
			best = dt;
	}
	printf("%s %.1f %.0f %llu %llu\n", name, double(bytes) / best / 1e6, double(frames) / best,
	       (unsigned long long)t.ok, (unsigned long long)t.sum);
	fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: parse_simdjson FILE [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 2.0;
	std::string suffix;
	if (argc > 3) {
		auto impl = get_available_implementations()[argv[3]];
		if (!impl || !impl->supported_by_runtime_system()) {
			fprintf(stderr, "simdjson implementation %s unavailable\n", argv[3]);
			return 1;
		}
		get_active_implementation() = impl;
		suffix = std::string("(") + argv[3] + ")";
	}
	fprintf(stderr, "simdjson DOM kernel: %s\n", get_active_implementation()->name().c_str());
	padded_string file;
	if (padded_string::load(argv[1]).get(file)) {
		fprintf(stderr, "cannot read %s\n", argv[1]);
		return 1;
	}
	const char *b = file.data();
	size_t len = file.size();
	std::vector<span> frames;
	for (size_t at = 0; at < len;) {
		const char *nl = static_cast<const char *>(memchr(b + at, '\n', len - at));
		size_t e = nl ? size_t(nl - b) : len, l = e - at;
		if (l && b[e - 1] == '\r')
			l--;
		frames.push_back({at, l});
		at = e + 1;
	}

	dom::parser dp;
	run(("simdjson-dom" + suffix).c_str(), seconds, len, frames.size(), [&](tally &t) {
		for (const span &s : frames) {
			dom::element doc;
			// the next line (or the file's padding) follows each frame:
			// SIMDJSON_PADDING holds
			if (!dp.parse(b + s.off, s.len, false).get(doc))
				add_dom(doc, t);
		}
	});

	ondemand::parser op;
	auto ondemand_pass = [&](tally &t) {
		for (const span &s : frames) {
			ondemand::document doc;
			if (op.iterate(
			          padded_string_view(b + s.off, s.len, s.len + SIMDJSON_PADDING))
			        .get(doc))
				continue;
			ondemand::object obj;
			if (doc.get_object().get(obj))
				continue;
			std::string_view uid;
			if (obj.find_field_unordered("uid").get_string().get(uid))
				continue;
			ondemand::value ts;
			if (obj.find_field_unordered("ts").get(ts))
				continue;
			int64_t v;
			double d;
			std::string_view sv;
			ondemand::number_type nt;
			ondemand::json_type jt;
			if (ts.type().get(jt))
				continue;
			if (jt == ondemand::json_type::number) {
				if (ts.get_number_type().get(nt))
					continue;
				if (nt == ondemand::number_type::signed_integer) {
					if (ts.get_int64().get(v))
						continue;
				} else if (!ts.get_double().get(d)) {
					v = int64_t(std::floor(d));
				} else {
					continue;
				}
			} else if (ts.get_string().get(sv) || !ts_from_string(sv, &v)) {
				continue;
			}
			t.ok++;
			t.sum += uint64_t(v) + uid.size();
		}
	};
	if (argc <= 3) // compiled in: the same whatever IMPL says
		run("simdjson-ondemand", seconds, len, frames.size(), ondemand_pass);

	dom::parser mp;
	run(("simdjson-many" + suffix).c_str(), seconds, len, frames.size(), [&](tally &t) {
		dom::document_stream docs;
		if (mp.parse_many(b, len, 1 << 20).get(docs))
			return;
		for (auto doc : docs) {
			dom::element e;
			if (!doc.get(e))
				add_dom(e, t);
		}
	});
	return 0;
}
