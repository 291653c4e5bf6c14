/**
 * A loopback OIDC issuer for tests: serves a discovery document and a JWKS on 127.0.0.1 and signs
 * ID tokens with its own keys. After rotate() it signs with a new key and publishes the new key
 * and the one before it, as real issuers do during a rotation.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from "jose";

export interface OidcIssuerOptions {
  alg?: "ES256" | "RS256";
  /** The `issuer` the discovery document names; default the issuer's own URL. */
  discoveryIssuer?: string;
}

export interface SignOptions {
  /** The kid header, e.g. one the issuer never published; default the signing key's. */
  kid?: string;
  /** Sign with the key from before the last rotate(). */
  previousKey?: boolean;
}

export interface TestOidcIssuer {
  /** http://127.0.0.1:port, without a trailing slash: the `iss` of its tokens. */
  readonly url: string;
  /** How many times the discovery document and the JWKS were fetched. */
  readonly fetches: { discovery: number; jwks: number };
  /** An ID token: iss, iat and exp (in 5 minutes) by default, then `claims` over them; a claim set to undefined is left out. */
  sign(claims: Record<string, unknown>, options?: SignOptions): Promise<string>;
  /** Signs from now on with a new key; returns its kid. */
  rotate(): Promise<string>;
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function start(options: OidcIssuerOptions = {}): Promise<TestOidcIssuer> {
  const alg = options.alg ?? "ES256";
  let generation = 0;
  const newKey = async (): Promise<SigningKey> => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `key-${++generation}`;
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
  };
  let current = await newKey();
  let previous: SigningKey | undefined;
  const fetches = { discovery: 0, jwks: 0 };

  let url = "";
  const server: Server = createServer((req, res) => {
    const send = (body: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/.well-known/openid-configuration") {
      fetches.discovery++;
      send({
        issuer: options.discoveryIssuer ?? url,
        jwks_uri: `${url}/jwks`,
        response_types_supported: ["id_token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: [alg],
      });
    } else if (req.url === "/jwks") {
      fetches.jwks++;
      send({ keys: [current, previous].filter((k) => k !== undefined).map((k) => k.jwk) });
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    fetches,
    async sign(claims, signOptions = {}) {
      const key = signOptions.previousKey ? previous : current;
      if (key === undefined) throw new Error("no previous key: rotate() first");
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = Object.fromEntries(Object.entries({ iss: url, iat: now, exp: now + 300, ...claims }).filter(([, v]) => v !== undefined));
      return new SignJWT(payload)
        .setProtectedHeader({ alg, typ: "JWT", kid: signOptions.kid ?? key.kid })
        .sign(key.privateKey);
    },
    async rotate() {
      previous = current;
      current = await newKey();
      return current.kid;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        // Clients' keep-alive connections would hold close() open.
        server.closeAllConnections();
      });
    },
  };
}
