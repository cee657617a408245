/**
 * Seeded test data: a linear congruential generator (glibc's constants) whose every call gives
 * the next state, an integer in [0, 2^31). The same seed gives the same sequence on every run.
 */
export function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s;
  };
}
