import { RegistryError } from "../oci/errors.js";

/**
 * Whether the registry takes writes and deletes (maintenance mode, `storage.delete.enabled`). The
 * stores check it themselves, at every method that changes the store, so that no entry point (a
 * route, the UI, a maintenance command) can go around it.
 */
export class WritePolicy {
  constructor(private readonly options: { readOnly: boolean; deleteEnabled: boolean }) {}

  write(): void {
    if (this.options.readOnly) throw new RegistryError("UNSUPPORTED", "the registry is in read-only mode", { status: 405 });
  }

  remove(): void {
    this.write();
    if (!this.options.deleteEnabled) throw new RegistryError("UNSUPPORTED", "deletes are disabled on this registry (storage.delete.enabled)", { status: 405 });
  }
}

/** Writes and deletes allowed: stores used outside a configured registry (tests, tools). */
export const writable = new WritePolicy({ readOnly: false, deleteEnabled: true });
