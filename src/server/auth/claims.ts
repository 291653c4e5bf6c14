import type { Action } from "../../auth/policy.js";

/** One entry of a token's `access` claim (docker's token spec, auth_jwt.md). */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

/** What a verified bearer token says, whoever issued it. */
export interface TokenClaims {
  /** The subject: who the token was issued to ("" for an anonymous token). */
  sub: string;
  access: AccessEntry[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** lading's own tokens say what kind of principal the subject is, and its groups. */
  kind?: "anonymous" | "user" | "robot" | "oidc";
  groups?: string[];
}

/** The repository actions a token's claims grant on one repository. */
export function claimedActions(claims: TokenClaims, repository: string): Set<Action> {
  const found = new Set<Action>();
  for (const entry of claims.access) {
    if (entry.type !== "repository" || entry.name !== repository) continue;
    for (const action of entry.actions) {
      if (action === "*") {
        found.add("pull").add("push").add("delete");
      } else if (action === "pull" || action === "push" || action === "delete") found.add(action);
    }
  }
  return found;
}
