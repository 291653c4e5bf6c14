import type { IncomingMessage } from "node:http";
import { unrestricted, type Action, type Grant } from "../../auth/policy.js";

/** What a request needs: an action on a resource, in the token spec's scope terms. */
export interface AccessRequest {
  type: "repository" | "registry";
  name: string;
  actions: Array<Action | "*">;
}

/**
 * Decides whether a request may proceed, and yields the caller's grant, which routes and the
 * catalog consult for whatever else they touch (a mount's source, the repositories listed). An
 * implementation rejects by throwing a RegistryError (UNAUTHORIZED with a WWW-Authenticate
 * challenge, DENIED, or TOOMANYREQUESTS).
 */
export interface AccessController {
  /** False when there is no access control at all. */
  readonly enabled: boolean;
  authorize(req: IncomingMessage, access: AccessRequest[]): Promise<Grant>;
  /** What someone who has not signed in may do (the web UI's visitors). */
  anonymousGrant(): Grant;
}

/** No authentication configured: everything is allowed. */
export const allowAll: AccessController = {
  enabled: false,
  authorize: async () => unrestricted,
  anonymousGrant: () => unrestricted,
};

/** The scope string of the token spec (auth_scope.md) for what a request needs. */
export function scopeOf(access: readonly AccessRequest[]): string {
  return access.map((a) => `${a.type}:${a.name}:${a.actions.join(",")}`).join(" ");
}

/**
 * Parses scopes (`repository:team/app:pull,push`, `registry:catalog:*`); a repository name may hold
 * a port's colon, so the type ends at the first colon and the actions start after the last.
 */
export function parseScopes(scopes: readonly string[]): AccessRequest[] {
  const parsed: AccessRequest[] = [];
  for (const scope of scopes.flatMap((s) => s.split(" ")).filter((s) => s !== "")) {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first <= 0 || last === first) continue;
    const type = scope.slice(0, first).replace(/\(.*\)$/, "");
    if (type !== "repository" && type !== "registry") continue;
    const actions = scope
      .slice(last + 1)
      .split(",")
      .filter((a): a is Action | "*" => a === "pull" || a === "push" || a === "delete" || a === "*");
    parsed.push({ type, name: scope.slice(first + 1, last), actions });
  }
  return parsed;
}
