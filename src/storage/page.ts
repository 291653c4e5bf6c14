import type { ListPage } from "./driver.js";

/** One page of sorted names: those after `page.after`, at most `page.limit` of them. */
export function pageOf(sorted: string[], page: ListPage | undefined): string[] {
  if (page === undefined) return sorted;
  let from = 0;
  if (page.after !== undefined) {
    const after = page.after;
    from = sorted.findIndex((name) => name > after);
    if (from === -1) return [];
  }
  return sorted.slice(from, page.limit === undefined ? undefined : from + page.limit);
}
