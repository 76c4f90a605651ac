/* near_dedup's kernels: the same values as the numpy code in filters/minhash.py, oph.py and
 * lsh.py, in one pass over memory instead of one numpy pass per operation. Part of the
 * optional extension datatools.native._kernels (setup.py), called through ctypes
 * (`datatools/native/__init__.py`, wrapped by `filters/kernels.py`), which releases the GIL,
 * so callers run them on several threads. Without a C compiler the numpy code runs.
 *
 * shingle_hashes: tokens ("word": maximal runs of [0-9A-Za-z_] or bytes >= 0x80, ASCII-
 * lowercased; "char": each non-whitespace UTF-8 character), each token hashed as a chain of
 * MurmurHash3's fmix64 over its little-endian 8-byte blocks (acc = len; acc = fmix64(acc*K +
 * block)), each n-gram hashed as fmix64(n + sum_i token[t+i] * P[i]) >> 32; a text with fewer
 * than n tokens gives one shorter shingle (`minhash_reference.py` is the same in Python).
 *
 * minhash_signatures: k-permutation MinHash (Broder 1997) with datasketch's affine32
 * permutations, min over a text's shingles of a[p] * h + b[p] (mod 2^32), h pre-mixed. */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define K_CHAIN 0x100000001B3ULL /* FNV-64 prime: multiplier of the token-block chain */
#define MAX_NGRAM 32

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint8_t lower(uint8_t c) { return (uint8_t)(c - 65) < 26 ? (uint8_t)(c | 32) : c; }

/* WORD[c]: c belongs to a word token ([0-9A-Za-z_] or >= 0x80); SPACE[c]: ASCII whitespace.
 * Filled by init_tables, which the loader calls once before any other function. */
static uint8_t WORD[256], SPACE[256];

void init_tables(void) {
    for (int c = 0; c < 256; c++) {
        WORD[c] = c >= 0x80 || c == 0x5F || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A)
                  || (c >= 0x61 && c <= 0x7A);
        SPACE[c] = c == 32 || (c >= 9 && c <= 13);
    }
}

#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* 8 bytes ASCII-lowercased at once: a byte in 0x41..0x5A gets 0x20 set (SWAR: the high bit
 * of each byte of t + (0x80 - lo) says whether that byte's low 7 bits are >= lo) */
static inline uint64_t lower8(uint64_t x) {
    uint64_t t = x & ~HIGH;
    uint64_t upper = (t + (0x80 - 0x41) * ONES) & ~(t + (0x80 - 0x5B) * ONES) & ~x & HIGH;
    return x | (upper >> 2);
}

/* little-endian value of the 1 <= n <= 8 lowercased bytes at s; `room` = bytes readable at s */
static inline uint64_t block_of(const uint8_t *s, int64_t n, int64_t room) {
    if (__builtin_expect(room >= 8, 1)) {
        uint64_t v;
        memcpy(&v, s, 8); /* one unaligned load, the bytes past n masked off (no branch) */
        return lower8(v & (~0ULL >> (64 - 8 * n)));
    }
    uint64_t v = 0;
    for (int64_t i = 0; i < n; i++) v |= (uint64_t)lower(s[i]) << (8 * i);
    return v;
}

/* Most words fit in one or two blocks: the second block's chain step is computed for every
 * token and kept only for tokens of more than 8 bytes (a select, not a branch that the word
 * lengths make unpredictable); longer tokens loop. */
static inline uint64_t token_hash(const uint8_t *s, int64_t len, int64_t room) {
    uint64_t acc = fmix64((uint64_t)len * K_CHAIN + block_of(s, len < 8 ? len : 8, room));
    if (__builtin_expect(room < 16, 0) || len > 16) {
        for (int64_t k = 8; k < len; k += 8)
            acc = fmix64(acc * K_CHAIN + block_of(s + k, len - k < 8 ? len - k : 8, room - k));
        return acc;
    }
    int64_t rest = len - 8; /* bytes in the second block, when positive */
    uint64_t b1 = block_of(s + 8, rest < 1 ? 1 : rest, room - 8);
    uint64_t two = fmix64(acc * K_CHAIN + b1);
    return rest > 0 ? two : acc;
}

/* The n-grams of one text's tokens, fed one token hash at a time. The last n hashes sit
 * twice in a ring of 2n (at idx and idx + n), so the window oldest-first is win[idx+1 ..
 * idx+n] without a modulo or a copy per token. */
typedef struct {
    uint64_t win[2 * MAX_NGRAM];
    int ngram, idx;
    int64_t m; /* tokens so far in this text */
    const uint64_t *P;
    uint32_t *out;
    int64_t written;
} Shingler;

static inline void add_token(Shingler *g, uint64_t h) {
    int n = g->ngram;
    g->idx = g->idx + 1 == n ? 0 : g->idx + 1;
    g->win[g->idx] = h;
    g->win[g->idx + n] = h;
    if (++g->m >= n) { /* the n-gram of the last n tokens */
        const uint64_t *w = g->win + g->idx + 1;
        uint64_t acc = (uint64_t)n;
        for (int k = 0; k < n; k++) acc += w[k] * g->P[k];
        g->out[g->written++] = (uint32_t)(fmix64(acc) >> 32);
    }
}

static inline void end_text(Shingler *g) {
    if (g->m > 0 && g->m < g->ngram) { /* fewer tokens than n: one shorter shingle */
        const uint64_t *w = g->win; /* a text's first tokens go to win[0..m-1] */
        uint64_t acc = (uint64_t)g->m;
        for (int64_t k = 0; k < g->m; k++) acc += w[k] * g->P[k];
        g->out[g->written++] = (uint32_t)(fmix64(acc) >> 32);
    }
    g->m = 0;
    g->idx = g->ngram - 1; /* so that the next text's first token goes to win[0] */
}

/* Bit i set: byte i of the 64 at s (fewer: `len`, the rest cleared) is a word byte. */
static inline uint64_t word_mask(const uint8_t *s, int64_t len, int64_t room) {
    uint8_t tail[64];
    if (room < 64) { /* near the end of the buffer: never read past it */
        memset(tail, 0, 64);
        memcpy(tail, s, (size_t)(len < room ? len : room));
        s = tail;
    }
    uint64_t m = 0;
#if defined(__SSE2__)
    const __m128i a1 = _mm_set1_epi8('a' - 1), z1 = _mm_set1_epi8('z' + 1);
    const __m128i d1 = _mm_set1_epi8('0' - 1), n1 = _mm_set1_epi8('9' + 1);
    const __m128i us = _mm_set1_epi8('_'), lo = _mm_set1_epi8(0x20);
    for (int q = 0; q < 4; q++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + 16 * q));
        __m128i l = _mm_or_si128(v, lo); /* letters ASCII-lowercased; bytes >= 0x80 stay < 0 */
        __m128i w = _mm_and_si128(_mm_cmpgt_epi8(l, a1), _mm_cmpgt_epi8(z1, l));
        w = _mm_or_si128(w, _mm_and_si128(_mm_cmpgt_epi8(v, d1), _mm_cmpgt_epi8(n1, v)));
        w = _mm_or_si128(w, _mm_cmpeq_epi8(v, us));
        uint64_t bits = (uint32_t)(_mm_movemask_epi8(w) | _mm_movemask_epi8(v)); /* v<0: >=0x80 */
        m |= bits << (16 * q);
    }
#else
    for (int q = 0; q < 64; q++) m |= (uint64_t)WORD[s[q]] << q;
#endif
    return len < 64 ? m & ((1ULL << len) - 1) : m;
}

/* Word tokens of d[start:end] by 64-byte masks: a token starts where the mask turns on and
 * ends where it turns off, found with count-trailing-zeros, not a branch per byte. */
static inline void word_text(const uint8_t *d, int64_t start, int64_t end, int64_t n_bytes,
                             Shingler *g) {
    uint64_t carry = 0; /* 1: the byte before this block is a word byte */
    int64_t tok = -1;   /* the start of the token being read, or -1 */
    for (int64_t base = start; base < end; base += 64) {
        int64_t len = end - base < 64 ? end - base : 64;
        uint64_t m = word_mask(d + base, len, n_bytes - base);
        uint64_t before = (m << 1) | carry;
        uint64_t live = len < 64 ? (1ULL << len) - 1 : ~0ULL;
        uint64_t edges = (m ^ before) & live; /* starts and ends, alternating */
        while (edges) {
            int64_t at = base + __builtin_ctzll(edges);
            edges &= edges - 1;
            if (tok < 0) {
                tok = at;
            } else {
                add_token(g, token_hash(d + tok, at - tok, n_bytes - tok));
                tok = -1;
            }
        }
        carry = m >> 63;
    }
    if (tok >= 0) add_token(g, token_hash(d + tok, end - tok, n_bytes - tok));
}

/* Character tokens of d[start:end]: a token starts at a byte that is neither whitespace nor
 * a UTF-8 continuation byte and takes the continuation bytes after it. */
static inline void char_text(const uint8_t *d, int64_t start, int64_t end, int64_t n_bytes,
                             Shingler *g) {
    for (int64_t i = start; i < end;) {
        uint8_t c = d[i];
        if (SPACE[c] || (c & 0xC0) == 0x80) { i++; continue; }
        int64_t j = i + 1;
        while (j < end && (d[j] & 0xC0) == 0x80) j++;
        add_token(g, token_hash(d + i, j - i, n_bytes - i));
        i = j;
    }
}

/* Shingle hashes of texts d[offsets[t]:offsets[t+1]], t < n_docs, into out (capacity: the
 * caller's bound, one per token plus one per text); counts[t] = shingles of text t.
 * Returns the number written. */
int64_t shingle_hashes(const uint8_t *d, const int64_t *offsets, int64_t n_docs, int ngram,
                       int char_mode, const uint64_t *P, uint32_t *out, int64_t *counts) {
    int64_t n_bytes = offsets[n_docs]; /* readable from d: never past the last text */
    Shingler g = {.ngram = ngram, .idx = ngram - 1, .m = 0, .P = P, .out = out, .written = 0};
    for (int64_t t = 0; t < n_docs; t++) {
        int64_t before = g.written;
        if (char_mode)
            char_text(d, offsets[t], offsets[t + 1], n_bytes, &g);
        else
            word_text(d, offsets[t], offsets[t + 1], n_bytes, &g);
        end_text(&g);
        counts[t] = g.written - before;
    }
    return g.written;
}

/* sig[t*k + p] = min over text t's hashes h of a[p]*h + b[p] (mod 2^32); an empty text keeps
 * what sig holds (the caller fills it with the empty value). The permutation loop is the
 * inner one so that it vectorises; target_clones picks AVX2 where the CPU has it. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void minhash_signatures(const uint32_t *restrict hv, const int64_t *restrict offsets,
                        int64_t n_docs, const uint32_t *restrict a, const uint32_t *restrict b,
                        int k, uint32_t *restrict sig) {
    for (int64_t t = 0; t < n_docs; t++) {
        uint32_t *restrict s = sig + t * (int64_t)k;
        for (int64_t x = offsets[t]; x < offsets[t + 1]; x++) {
            uint32_t h = hv[x];
            for (int p = 0; p < k; p++) {
                uint32_t v = a[p] * h + b[p];
                s[p] = v < s[p] ? v : s[p];
            }
        }
    }
}

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    h ^= h >> 16;
    return h;
}

/* v's bin in 0..k-1: the top of its range (a shift for a power of two, else multiply-shift) */
static inline uint32_t bin_of(uint32_t v, int k, int shift) {
    return shift >= 0 ? v >> shift : (uint32_t)(((uint64_t)v * (uint64_t)k) >> 32);
}

#define OPH_EMPTY 0xFFFFFFFFU
#define OPH_C1 0x9E3779B1U
#define OPH_C2 0x85EBCA77U

/* One-permutation MinHash with optimal densification (oph.py: Li, Owen & Zhang 2012;
 * Shrivastava 2017): each shingle v = a*h + b goes to bin_of(v), each bin keeps its minimum;
 * an empty bin i of a non-empty text takes the first non-empty bin of its fixed sequence,
 * table[(step-1)*k + i] for the first `steps` steps, then bin_of(fmix32(i*C1 + step*C2 +
 * salt)). sig is (n_docs, k), filled with OPH_EMPTY by the caller; `shift` = 32 - log2(k)
 * for a power of two, else -1. */
void oph_signatures(const uint32_t *restrict hashes, const int64_t *restrict offsets,
                    int64_t n_docs, uint32_t a, uint32_t b, int k, int shift,
                    const uint32_t *restrict table, int steps, uint32_t salt,
                    uint32_t *restrict sig) {
    for (int64_t t = 0; t < n_docs; t++) {
        uint32_t *restrict s = sig + t * (int64_t)k;
        if (offsets[t + 1] == offsets[t]) continue; /* no shingles: all empty */
        for (int64_t x = offsets[t]; x < offsets[t + 1]; x++) {
            uint32_t v = a * hashes[x] + b, i = bin_of(v, k, shift);
            s[i] = v < s[i] ? v : s[i];
        }
        uint32_t filled[1024]; /* the bins' values before densification (k <= 1024) */
        memcpy(filled, s, (size_t)k * sizeof(uint32_t));
        for (int i = 0; i < k; i++) {
            if (filled[i] != OPH_EMPTY) continue;
            uint32_t value = OPH_EMPTY;
            for (uint32_t step = 1; value == OPH_EMPTY; step++) {
                uint32_t j = step <= (uint32_t)steps
                    ? table[(int64_t)(step - 1) * k + i]
                    : bin_of(fmix32((uint32_t)i * OPH_C1 + step * OPH_C2 + salt), k, shift);
                value = filled[j];
            }
            s[i] = value;
        }
    }
}

/* inter[q] = |A ∩ B| for pair q, A and B the sorted distinct values of its two texts,
 * values[offsets[p]:offsets[p+1]] for text p: one merge per pair. */
void sorted_intersections(const uint32_t *restrict values, const int64_t *restrict offsets,
                          const int64_t *restrict pairs, int64_t n_pairs, int64_t *restrict inter) {
    for (int64_t q = 0; q < n_pairs; q++) {
        int64_t i = offsets[pairs[2 * q]], ie = offsets[pairs[2 * q] + 1];
        int64_t j = offsets[pairs[2 * q + 1]], je = offsets[pairs[2 * q + 1] + 1], n = 0;
        while (i < ie && j < je) {
            uint32_t x = values[i], y = values[j];
            n += x == y;
            i += x <= y;
            j += y <= x;
        }
        inter[q] = n;
    }
}
