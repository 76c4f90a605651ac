/* Content ids of plain TRL records (`readers.columnar_trl.content_id`, whose values these are;
 * a test compares the two): the first 16 hex digits of XXH3-128 over
 * "user\x1f" prompt "\x1d" answers, where answers are chosen "\x1e" rejected for a pair,
 * nothing for a prompt alone and the completion otherwise. The text is hashed in pieces with
 * xxHash's streaming state, which gives the one-shot digest, so it is never joined.
 * xxhash/xxhash.h is xxHash 0.8.4 as released (BSD 2-Clause, xxhash/LICENSE), the library
 * the `xxhash` Python package wraps. */
#include <stdint.h>

#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include "xxhash/xxhash.h"

enum { PAIRWISE = 0, PROMPT_ONLY = 3 }; /* `columnar_trl.KINDS` order */

static inline void hex16(uint64_t v, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}

/* out[16 i : 16 i + 16] = the id of record i; texts as (bytes, int64 offsets) per column. */
void trl_content_ids(const uint8_t *prompt, const int64_t *prompt_at, const uint8_t *a,
                     const int64_t *a_at, const uint8_t *b, const int64_t *b_at,
                     const int8_t *shape, int64_t n, char *out) {
    XXH3_state_t state;
    for (int64_t i = 0; i < n; i++) {
        XXH3_128bits_reset(&state);
        XXH3_128bits_update(&state, "user\x1f", 5);
        XXH3_128bits_update(&state, prompt + prompt_at[i], (size_t)(prompt_at[i + 1] - prompt_at[i]));
        XXH3_128bits_update(&state, "\x1d", 1);
        if (shape[i] != PROMPT_ONLY)
            XXH3_128bits_update(&state, a + a_at[i], (size_t)(a_at[i + 1] - a_at[i]));
        if (shape[i] == PAIRWISE) {
            XXH3_128bits_update(&state, "\x1e", 1);
            XXH3_128bits_update(&state, b + b_at[i], (size_t)(b_at[i + 1] - b_at[i]));
        }
        hex16(XXH3_128bits_digest(&state).high64, out + 16 * i);
    }
}
