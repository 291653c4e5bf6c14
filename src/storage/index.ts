import { checked } from "./base.js";
import type { StorageDriver } from "./driver.js";
import { FilesystemDriver } from "./fs.js";
import { MemoryDriver } from "./memory.js";

export type DriverConfig = { type: "filesystem"; rootdirectory: string; directio?: boolean } | { type: "inmemory" };

/**
 * The driver named by the configuration, always behind the path-checking wrapper; `warn` hears
 * what the driver meets that no request sees.
 */
export function createDriver(config: DriverConfig, warn?: (message: string) => void): StorageDriver {
  switch (config.type) {
    case "filesystem":
      return checked(new FilesystemDriver(config.rootdirectory, { directio: config.directio, warn }));
    case "inmemory":
      return checked(new MemoryDriver());
  }
}
