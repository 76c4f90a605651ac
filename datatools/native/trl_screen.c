/* A screen for TRL standard JSONL lines (`readers/native_trl.py`), part of the optional
 * extension datatools.native._kernels (setup.py), called through ctypes. */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* For each line: the shape the per-line reader gives it (columnar_trl.general_shape: 0 pairwise,
 * 1 sft, 2 unary, 3 prompt) when the line is certainly read the same by polars' JSON reader, or
 * -1 (not plain, or anything the screen does not vouch for: the line path decides), -2 for a
 * blank line. Vouched lines are strict JSON objects of distinct known keys with scalar values:
 * no raw control bytes, valid UTF-8 without surrogates, no lone surrogate escape, no integer past
 * 18 digits or "-0", no CR. */
enum { T_ABSENT, T_NULL, T_STR, T_INT, T_FLOAT, T_BOOL };
enum { K_PROMPT, K_CHOSEN, K_REJECTED, K_COMPLETION, K_LABEL, K_SCORE_CHOSEN, K_SCORE_REJECTED,
       K_ID, N_KEYS };
static const char *TRL_KEYS[N_KEYS] = {"prompt", "chosen", "rejected", "completion", "label",
                                       "score_chosen", "score_rejected", "id"};

static inline int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 32;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Python's str.isspace() for a code point (the Unicode White_Space characters it counts,
 * plus the separators U+001C..U+001F) */
static inline int is_unicode_space(uint32_t v) {
    return (v >= 0x09 && v <= 0x0D) || (v >= 0x1C && v <= 0x20) || v == 0x85 || v == 0xA0 ||
           v == 0x1680 || (v >= 0x2000 && v <= 0x200A) || v == 0x2028 || v == 0x2029 ||
           v == 0x202F || v == 0x205F || v == 0x3000;
}

/* Length of the valid UTF-8 sequence at p (< e) starting with a byte >= 0x80, or 0. */
static inline int utf8_len(const uint8_t *p, const uint8_t *e) {
    uint8_t c = p[0];
    int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || e - p < n) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
    if (c == 0xED && p[1] >= 0xA0) return 0; /* a surrogate */
    if (c == 0xF0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xF4 && p[1] >= 0x90) return 0; /* past U+10FFFF */
    return n;
}

/* The code unit of the \uXXXX escape at p, or -1 (not one) */
static inline int escape_value(const uint8_t *p, const uint8_t *e) {
    if (e - p < 6 || p[0] != '\\' || p[1] != 'u') return -1;
    int v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* A JSON string at *pp (just after its opening quote); sets *solid when it holds a character
 * that is surely not whitespace (ASCII, or an escape of one). 0 when not vouched for. */
static int scan_string(const uint8_t **pp, const uint8_t *e, int *solid) {
    const uint8_t *p = *pp;
    while (p < e) {
#if defined(__SSE2__)
        /* 16 bytes at a time up to the next byte that needs a look: a quote, a backslash, a
         * control byte or a non-ASCII byte (most text has none for dozens of bytes) */
        const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\');
        const __m128i top3 = _mm_set1_epi8((char)0xE0), space = _mm_set1_epi8(' ');
        while (e - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                    _mm_cmpeq_epi8(v, slash)),
                                       _mm_cmpeq_epi8(_mm_and_si128(v, top3), _mm_setzero_si128()));
            unsigned special = (unsigned)(_mm_movemask_epi8(hit) | _mm_movemask_epi8(v));
            unsigned plain = special ? (1u << __builtin_ctz(special)) - 1 : 0xFFFFu;
            if (!*solid && (~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) & plain))
                *solid = 1; /* an ASCII byte other than a space before the next special one */
            if (special) { p += __builtin_ctz(special); break; }
            p += 16;
        }
        if (p >= e) break;
#endif
        uint8_t c = *p;
        if (c == '"') { *pp = p + 1; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (e - p < 2) return 0;
            uint8_t x = p[1];
            if (x == 'u') {
                int v = escape_value(p, e);
                if (v < 0 || (v >= 0xDC00 && v <= 0xDFFF)) return 0; /* a lone low surrogate */
                if (v >= 0xD800 && v <= 0xDBFF) { /* a pair (both read alike), or not vouched */
                    int low = escape_value(p + 6, e);
                    if (low < 0xDC00 || low > 0xDFFF) return 0;
                    *solid = 1; /* U+10000 and up: no whitespace there */
                    p += 12;
                    continue;
                }
                if (!is_unicode_space((uint32_t)v)) *solid = 1;
                p += 6;
                continue;
            }
            if (x == '"' || x == '\\' || x == '/' || x == 'b') *solid = 1;
            else if (x != 'n' && x != 't' && x != 'r' && x != 'f') return 0;
            p += 2;
            continue;
        }
        if (c >= 0x80) {
            int n = utf8_len(p, e);
            if (!n) return 0;
            uint32_t v = n == 2 ? (uint32_t)(c & 0x1F) : n == 3 ? (uint32_t)(c & 0x0F) : (uint32_t)(c & 0x07);
            for (int i = 1; i < n; i++) v = (v << 6) | (p[i] & 0x3F);
            if (!is_unicode_space(v)) *solid = 1;
            p += n;
            continue;
        }
        if (c != ' ') *solid = 1;
        p++;
    }
    return 0;
}

/* A JSON number at *pp: T_INT, T_FLOAT, or 0 when not vouched for. */
static int scan_number(const uint8_t **pp, const uint8_t *e) {
    const uint8_t *p = *pp, *digits;
    int type = T_INT;
    if (p < e && *p == '-') p++;
    digits = p;
    if (p < e && *p == '0') {
        p++;
    } else {
        if (p >= e || *p < '1' || *p > '9') return 0;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p - digits > 18) return 0;
    if (p < e && *p == '.') {
        type = T_FLOAT;
        p++;
        const uint8_t *f = p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == f) return 0;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        type = T_FLOAT;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        const uint8_t *x = p;
        while (p < e && *p >= '0' && *p <= '9') p++;
        if (p == x || p - x > 2) return 0;
    }
    if (type == T_INT && **pp == '-' && p - *pp == 2 && (*pp)[1] == '0') return 0; /* -0 */
    *pp = p;
    return type;
}

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *e) {
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    return p;
}

static inline int literal(const uint8_t **pp, const uint8_t *e, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(e - *pp) < n || memcmp(*pp, word, n) != 0) return 0;
    *pp += n;
    return 1;
}

/* general_shape over the keys' types; `solid`: some value is surely not blank */
static int shape_of(const int *t, int solid) {
    if (t[K_PROMPT] != T_STR || !solid) return -1;
    if (t[K_ID] == T_FLOAT || t[K_ID] == T_BOOL) return -1;
    int chosen = t[K_CHOSEN] > T_NULL, rejected = t[K_REJECTED] > T_NULL;
    int completion = t[K_COMPLETION] > T_NULL, label = t[K_LABEL] > T_NULL;
    int scores = t[K_SCORE_CHOSEN] > T_NULL || t[K_SCORE_REJECTED] > T_NULL;
    if (chosen || rejected) {
        if (t[K_CHOSEN] != T_STR || t[K_REJECTED] != T_STR || completion || label) return -1;
        for (int k = K_SCORE_CHOSEN; k <= K_SCORE_REJECTED; k++)
            if (t[k] > T_NULL && t[k] != T_INT && t[k] != T_FLOAT) return -1;
        return 0;
    }
    if (scores) return -1;
    if (!completion) return label ? -1 : 3;
    if (t[K_COMPLETION] != T_STR || (label && t[K_LABEL] != T_BOOL)) return -1;
    return label ? 2 : 1;
}

static int screen_line(const uint8_t *p, const uint8_t *e) {
    int t[N_KEYS] = {0}, solid = 0;
    const uint8_t *q = p;
    while (q < e && (*q == ' ' || *q == '\t' || *q == '\v' || *q == '\f' || *q == '\r')) q++;
    if (q == e) return -2; /* blank: skipped by every reader */
    /* (a CR anywhere else is not vouched for: not JSON whitespace here, raw in a string) */
    p = skip_ws(p, e);
    if (p >= e || *p++ != '{') return -1;
    p = skip_ws(p, e);
    if (p < e && *p == '}') return -1; /* {}: the line path ledgers it */
    for (;;) {
        if (p >= e || *p++ != '"') return -1;
        const uint8_t *k = p;
        while (p < e && *p != '"' && *p != '\\' && *p >= 0x20) p++;
        if (p >= e || *p != '"') return -1;
        int key = -1;
        for (int i = 0; i < N_KEYS; i++)
            if ((size_t)(p - k) == strlen(TRL_KEYS[i]) && memcmp(k, TRL_KEYS[i], p - k) == 0)
                key = i;
        if (key < 0 || t[key] != T_ABSENT) return -1; /* another key, or a repeated one */
        p = skip_ws(p + 1, e);
        if (p >= e || *p++ != ':') return -1;
        p = skip_ws(p, e);
        if (p >= e) return -1;
        if (*p == '"') {
            p++;
            if (!scan_string(&p, e, &solid)) return -1;
            t[key] = T_STR;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            int type = scan_number(&p, e);
            if (!type) return -1;
            t[key] = type;
            solid = 1;
        } else if (literal(&p, e, "null")) {
            t[key] = T_NULL;
        } else if (literal(&p, e, "true") || literal(&p, e, "false")) {
            t[key] = T_BOOL;
            solid = 1;
        } else {
            return -1; /* a list, an object, NaN, ... */
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') { p = skip_ws(p + 1, e); continue; }
        if (p < e && *p == '}') { p++; break; }
        return -1;
    }
    if (skip_ws(p, e) != e) return -1;
    return shape_of(t, solid);
}

/* shapes[i] for each line of buf[0:n] (split at '\n'; a last line without one counts);
 * returns the number of lines, or -1 when there are more than max_lines. */
int64_t trl_screen(const uint8_t *buf, int64_t n, int8_t *shapes, int64_t max_lines) {
    int64_t lines = 0;
    const uint8_t *p = buf, *end = buf + n;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl ? nl : end;
        if (lines >= max_lines) return -1;
        shapes[lines++] = (int8_t)screen_line(p, e);
        p = nl ? nl + 1 : end;
    }
    return lines;
}
