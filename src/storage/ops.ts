import { readableSource, type Mutation, type Range, type Source, type StorageDriver } from "./driver.js";

/*
 * The registry's use of optional capabilities, each with its fallback on the core, in one place.
 */

/** Writes as one batch where the driver can, else one by one in the same order (each prefix safe). */
export async function writeAll(driver: StorageDriver, mutations: readonly Mutation[]): Promise<void> {
  if (mutations.length === 0) return;
  if (driver.capabilities.batch) return driver.capabilities.batch(mutations);
  for (const m of mutations) {
    if (m.op === "put") await driver.putContent(m.path, m.content);
    else await driver.move(m.source, m.dest);
  }
}

/** An object's bytes opened for sending: the driver's cheaper way, or a stream. */
export async function openSource(driver: StorageDriver, path: string, range?: Range): Promise<Source> {
  if (driver.capabilities.send) return driver.capabilities.send(path, range);
  return readableSource(await driver.reader(path, range));
}

/** A write that may be lost in a crash where that is cheaper; durable otherwise. */
export function putLossy(driver: StorageDriver, path: string, content: Uint8Array): Promise<void> {
  return driver.capabilities.lossy ? driver.capabilities.lossy.putContent(path, content) : driver.putContent(path, content);
}

/** A delete that may be undone by a crash where that is cheaper; durable otherwise. */
export function deleteLossy(driver: StorageDriver, path: string): Promise<void> {
  return driver.capabilities.lossy ? driver.capabilities.lossy.delete(path) : driver.delete(path);
}

/** Waits until other readers of the store see every write made so far (a no-op where they always do). */
export async function applied(driver: StorageDriver): Promise<void> {
  await driver.capabilities.applied?.();
}
