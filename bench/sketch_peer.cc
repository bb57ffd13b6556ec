// sketch_peer.cc - the peer for bench/sketch.c's exact-set figures: C++ std::unordered_set.
#include <cstddef>
#include <cstdint>
#include <unordered_set>

extern "C" {
void *peer_set_new(void);
void peer_set_free(void *s);
size_t peer_set_add_all(void *s, const uint64_t *h, size_t n);
}

void *peer_set_new(void)
{
	return new std::unordered_set<uint64_t>();
}

void peer_set_free(void *s)
{
	delete static_cast<std::unordered_set<uint64_t> *>(s);
}

size_t peer_set_add_all(void *s, const uint64_t *h, size_t n)
{
	auto *set = static_cast<std::unordered_set<uint64_t> *>(s);
	for (size_t i = 0; i < n; i++)
		set->insert(h[i]);
	return set->size();
}
