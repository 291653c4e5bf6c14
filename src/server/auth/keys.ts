import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

export type SigningAlgorithm = "ES256" | "RS256";

/**
 * The token service's signing key: the configured PEM file, or one generated on first start and
 * kept under the storage root (`.lading-auth/`, beside registry:2's tree and outside it), so that
 * tokens survive a restart. A store with no directory (in memory) gets a key for this process only.
 */
export async function signingKey(algorithm: SigningAlgorithm, configured: string | undefined, storageRoot: string | undefined): Promise<KeyObject> {
  if (configured !== undefined) return checkKey(await readPem(configured), algorithm, configured);
  if (storageRoot === undefined) return generate(algorithm);
  const file = join(storageRoot, ".lading-auth", `token-${algorithm.toLowerCase()}.pem`);
  const pem = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (pem !== undefined) return checkKey(createPrivateKey(pem), algorithm, file);
  const key = generate(algorithm);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // `wx`: two processes starting at once keep one key (the loser reads the winner's).
  try {
    await writeFile(file, key.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx", flush: true });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return checkKey(createPrivateKey(await readFile(file, "utf8")), algorithm, file);
  }
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

function checkKey(key: KeyObject, algorithm: SigningAlgorithm, file: string): KeyObject {
  const fits = algorithm === "ES256" ? key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1" : key.asymmetricKeyType === "rsa";
  if (!fits) throw new Error(`token signing key ${file} is not ${algorithm === "ES256" ? "an EC P-256" : "an RSA"} private key (lading.auth.token.algorithm: ${algorithm})`);
  return key;
}
