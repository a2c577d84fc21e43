/* The native test harnesses' random numbers: a fixed-seed xorshift, so every run checks the
 * same inputs. */
#ifndef GN_TEST_RNG_H
#define GN_TEST_RNG_H

#include <stdint.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

#endif
