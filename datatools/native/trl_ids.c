/* Content ids of plain TRL records (`readers.columnar_trl.content_id`, whose values these are;
 * a test compares the two): the first 16 hex digits of XXH3-128 over
 * "user\x1f" prompt "\x1d" answers, where answers are chosen "\x1e" rejected for a pair,
 * nothing for a prompt alone and the completion otherwise. The text is hashed in pieces with
 * xxHash's streaming state, which gives the one-shot digest, so it is never joined, and read
 * where polars holds it (views.h).
 * xxhash/xxhash.h is xxHash 0.8.4 as released (BSD 2-Clause, xxhash/LICENSE), the library
 * the `xxhash` Python package wraps. */
#include <stdint.h>

#include "views.h"

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "xxhash/xxhash.h"

enum { PAIRWISE = 0, PROMPT_ONLY = 3 }; /* `columnar_trl.KINDS` order */

static inline void hex16(uint64_t v, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}

/* out[16 i : 16 i + 16] = the id of record i; each column's texts as string views. */
void trl_content_ids(const uint8_t *prompt, const uint64_t *prompt_buffers, const uint8_t *a,
                     const uint64_t *a_buffers, const uint8_t *b, const uint64_t *b_buffers,
                     const int8_t *shape, int64_t n, char *out) {
    XXH3_state_t state;
    int64_t len;
    const uint8_t *text;
    for (int64_t i = 0; i < n; i++) {
        XXH3_128bits_reset(&state);
        XXH3_128bits_update(&state, "user\x1f", 5);
        text = text_at(prompt, prompt_buffers, i, &len);
        XXH3_128bits_update(&state, text, (size_t)len);
        XXH3_128bits_update(&state, "\x1d", 1);
        if (shape[i] != PROMPT_ONLY) {
            text = text_at(a, a_buffers, i, &len);
            XXH3_128bits_update(&state, text, (size_t)len);
        }
        if (shape[i] == PAIRWISE) {
            XXH3_128bits_update(&state, "\x1e", 1);
            text = text_at(b, b_buffers, i, &len);
            XXH3_128bits_update(&state, text, (size_t)len);
        }
        hex16(XXH3_128bits_digest(&state).high64, out + 16 * i);
    }
}
