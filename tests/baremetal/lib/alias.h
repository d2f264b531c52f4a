/* Access-size checks through aliased mappings (used by mmu_short, mmu_lpae). */
#ifndef ALIAS_H
#define ALIAS_H
#include "bm.h"

struct alias {
    const char *name;
    uint32_t va; /* maps the same 4 KiB physical page as every other alias */
};

/* Write through every alias and read back through every other one, for
 * every access size and form. */
void alias_suite(const struct alias *al, int n);

/* Accesses that cross the virtual page boundary va_b, where the page below
 * maps PA pa_lo and the page above maps PA pa_hi (not pa_lo + 4 KiB). */
void cross_suite(const char *name, uint32_t va_b, uint32_t pa_lo, uint32_t pa_hi);

#endif
