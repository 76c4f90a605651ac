/* Texts as polars holds them: Arrow string views (16 bytes each: the length, then the text
 * itself when it has at most 12 bytes, else a 4-byte prefix, the index of the data buffer
 * holding it and its offset there), read where they lie, without copying them out.
 * `buffers` holds the data buffers' addresses (`datatools.native.string_views`). */
#ifndef DATATOOLS_VIEWS_H
#define DATATOOLS_VIEWS_H
#include <stdint.h>
#include <string.h>

static inline const uint8_t *text_at(const uint8_t *views, const uint64_t *buffers, int64_t i,
                                     int64_t *len) {
    const uint8_t *v = views + 16 * i;
    int32_t n, buffer, offset;
    memcpy(&n, v, 4);
    *len = n;
    if (n <= 12) return v + 4;
    memcpy(&buffer, v + 8, 4);
    memcpy(&offset, v + 12, 4);
    return (const uint8_t *)(uintptr_t)buffers[buffer] + offset;
}
#endif
