/* Word counts for the `length` step: the number of runs of non-whitespace in each text, what
 * polars' `str.count_matches(r"\S+")` gives, where \s is Unicode White_Space: the ASCII
 * [\t-\r ] and U+0085 U+00A0 U+1680 U+2000-U+200A U+2028 U+2029 U+202F U+205F U+3000 (the
 * tests compare the two on every code point). A text is read 64 bytes at a time as a mask of
 * its word bytes (SSE2 compares; a byte >= 0x80 counts as a word byte unless it belongs to
 * one of the multi-byte spaces above), and its words are the mask's rising edges, counted
 * with popcount: no branch per byte. */
#include <stdint.h>
#include <string.h>

#include "views.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The UTF-8 length of the multi-byte Unicode space starting at p (0: none there). */
static inline int space_len(const uint8_t *p, int64_t avail) {
    if (avail >= 2 && p[0] == 0xC2) return (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
    if (avail < 3) return 0;
    if (p[0] == 0xE1) return (p[1] == 0x9A && p[2] == 0x80) ? 3 : 0;
    if (p[0] == 0xE2 && p[1] == 0x80)
        return (p[2] <= 0x8A || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF) && p[2] >= 0x80 ? 3 : 0;
    if (p[0] == 0xE2 && p[1] == 0x81) return p[2] == 0x9F ? 3 : 0;
    if (p[0] == 0xE3) return (p[1] == 0x80 && p[2] == 0x80) ? 3 : 0;
    return 0;
}

/* Bits of the 64 bytes at s: `word` = not ASCII whitespace, `high` = a byte >= 0x80. */
static inline void masks(const uint8_t *s, uint64_t *word, uint64_t *high) {
    uint64_t w = 0, h = 0;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t' - 1), cr = _mm_set1_epi8('\r' + 1);
    for (int q = 0; q < 4; q++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + 16 * q));
        /* signed compares: a byte >= 0x80 is negative, so never in [\t, \r] */
        __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(v, sp),
                                  _mm_and_si128(_mm_cmpgt_epi8(v, tab), _mm_cmpgt_epi8(cr, v)));
        w |= (uint64_t)(uint16_t)~_mm_movemask_epi8(ws) << (16 * q);
        h |= (uint64_t)(uint16_t)_mm_movemask_epi8(v) << (16 * q);
    }
#else
    for (int q = 0; q < 64; q++) {
        uint8_t c = s[q];
        w |= (uint64_t)!(c == ' ' || (c >= '\t' && c <= '\r')) << q;
        h |= (uint64_t)(c >= 0x80) << q;
    }
#endif
    *word = w;
    *high = h;
}

/* Words of the `end` bytes at d (never read past them: the last block is copied out). */
static uint32_t count_words(const uint8_t *d, int64_t end) {
    uint8_t tail[64];
    uint64_t carry = 0;   /* 1: the byte before this block is a word byte */
    int64_t cleared = 0;  /* bytes of a space that began in the previous block */
    uint32_t words = 0;
    for (int64_t base = 0; base < end; base += 64) {
        int64_t len = end - base < 64 ? end - base : 64;
        const uint8_t *s = d + base;
        if (end - base < 64) { /* the text's last bytes */
            memset(tail, 0, 64);
            memcpy(tail, s, (size_t)len);
            s = tail;
        }
        uint64_t word, high;
        masks(s, &word, &high);
        uint64_t live = len < 64 ? (1ULL << len) - 1 : ~0ULL;
        word &= live;
        high &= live;
        if (cleared) { /* the rest of a space from the block before */
            word &= ~((1ULL << cleared) - 1);
            high &= ~((1ULL << cleared) - 1);
            cleared = 0;
        }
        while (high) { /* a multi-byte space is not a word byte */
            int at = __builtin_ctzll(high);
            high &= high - 1;
            int n = space_len(d + base + at, end - base - at);
            if (n) {
                int in_block = at + n <= 64 ? n : 64 - at;
                uint64_t bits = (in_block == 64 ? ~0ULL : ((1ULL << in_block) - 1)) << at;
                word &= ~bits;
                high &= ~bits;
                cleared = n - in_block;
            }
        }
        words += (uint32_t)__builtin_popcountll(word & ~((word << 1) | carry));
        carry = len == 64 ? word >> 63 : 0;
    }
    return words;
}

/* out[i] = the words of text i, given as string views (nothing is read past a text). */
void word_counts(const uint8_t *views, const uint64_t *buffers, int64_t n, uint32_t *out) {
    int64_t len;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *text = text_at(views, buffers, i, &len);
        out[i] = count_words(text, len);
    }
}
