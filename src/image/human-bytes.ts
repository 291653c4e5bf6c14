/** A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function humanBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let n = bytes;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} B` : `${n.toFixed(1)} ${units[u]}`;
}
