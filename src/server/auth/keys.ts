import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isPathNotFound, type StorageDriver } from "../../storage/driver.js";

export type SigningAlgorithm = "ES256" | "RS256";

/** Where a generated signing key is kept, so that tokens survive a restart and replicas share it. */
export interface KeyStore {
  read(): Promise<string | undefined>;
  /** Stores a new key unless one is there already; returns the key that is stored. */
  create(pem: string): Promise<string>;
}

/**
 * The token service's signing key: the configured PEM file, or one generated on first start and
 * kept in `store` (beside registry:2's tree, outside it). Without a store (a store in memory) the
 * key lives as long as the process.
 */
export async function signingKey(algorithm: SigningAlgorithm, configured: string | undefined, store: KeyStore | undefined): Promise<KeyObject> {
  if (configured !== undefined) return checkKey(await readPem(configured), algorithm, configured);
  if (store === undefined) return generate(algorithm);
  const pem = (await store.read()) ?? (await store.create(generate(algorithm).export({ type: "pkcs8", format: "pem" }).toString()));
  return checkKey(createPrivateKey(pem), algorithm, "the stored token key");
}

/** A key file under a filesystem store's root; `wx` keeps one key when two processes start at once. */
export function fileKeyStore(file: string): KeyStore {
  return {
    read: () =>
      readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      }),
    create: async (pem) => {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      try {
        await writeFile(file, pem, { mode: 0o600, flag: "wx", flush: true });
        return pem;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        return readFile(file, "utf8");
      }
    },
  };
}

/**
 * A key object in a shared store (a bucket). Replicas that start together may each write one; each
 * reads back what was stored a moment later, so all of them end on the same key before serving.
 */
export function driverKeyStore(driver: StorageDriver, path: string, settleMs = 1000): KeyStore {
  const read = async (): Promise<string | undefined> => {
    try {
      return (await driver.getContent(path)).toString("utf8");
    } catch (err) {
      if (isPathNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    read,
    create: async (pem) => {
      await driver.putContent(path, Buffer.from(pem));
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      return (await read()) ?? pem;
    },
  };
}

async function readPem(file: string): Promise<KeyObject> {
  try {
    return createPrivateKey(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`token signing key ${file} cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

function generate(algorithm: SigningAlgorithm): KeyObject {
  return algorithm === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey : generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
}

function checkKey(key: KeyObject, algorithm: SigningAlgorithm, what: string): KeyObject {
  const fits = algorithm === "ES256" ? key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1" : key.asymmetricKeyType === "rsa";
  if (!fits) throw new Error(`token signing key ${what} is not ${algorithm === "ES256" ? "an EC P-256" : "an RSA"} private key (lading.auth.token.algorithm: ${algorithm})`);
  return key;
}
