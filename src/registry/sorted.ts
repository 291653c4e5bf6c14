/** Sorted string lists (tags, repository names), kept in the ASCII order the spec sorts by. */

/** A copy of a sorted list with `item` inserted in order (ASCII order, as the spec's Go sort.Strings). */
export function insertSorted(sorted: readonly string[], item: string): string[] {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < item) lo = mid + 1;
    else hi = mid;
  }
  return [...sorted.slice(0, lo), item, ...sorted.slice(lo)];
}

/** One page of a sorted list: entries after `last`, at most `n` of them, whether more follow, and how many follow `last`. */
export function paginate(sorted: readonly string[], n: number | undefined, last: string | undefined): { items: string[]; more: boolean; remaining: number } {
  let from = 0;
  if (last !== undefined) {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= last) lo = mid + 1;
      else hi = mid;
    }
    from = lo;
  }
  const to = n === undefined ? sorted.length : Math.min(sorted.length, from + n);
  return { items: sorted.slice(from, to), more: to < sorted.length, remaining: sorted.length - from };
}
