import type { Config } from "../config/schema.js";
import { checked } from "./base.js";
import type { StorageDriver } from "./driver.js";
import { FilesystemDriver } from "./fs/filesystem.js";
import { MemoryDriver } from "./memory.js";
import { S3Driver } from "./s3/driver.js";

/**
 * The driver the configuration names, always behind the path-checking wrapper: the one place where
 * a storage section becomes a driver. `warn` hears what the driver meets that no request sees.
 */
export async function createDriver(storage: Config["storage"], warn?: (message: string) => void): Promise<StorageDriver> {
  if (storage.filesystem !== undefined) {
    return checked(new FilesystemDriver(storage.filesystem.rootdirectory, { directio: storage.filesystem.directio, warn }));
  }
  if (storage.s3 !== undefined) return checked(await S3Driver.open(storage.s3, warn));
  return checked(new MemoryDriver());
}

/** A driver of its own in memory (tests, tools). */
export function memoryDriver(): StorageDriver {
  return checked(new MemoryDriver());
}
