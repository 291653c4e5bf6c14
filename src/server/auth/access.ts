import type { IncomingMessage } from "node:http";

/** What a request needs: an action on a resource, in the token spec's scope terms. */
export interface AccessRequest {
  type: "repository" | "registry";
  name: string;
  actions: Array<"pull" | "push" | "delete" | "*">;
}

/**
 * Decides whether a request may proceed. An implementation rejects by throwing a RegistryError
 * (UNAUTHORIZED with a WWW-Authenticate challenge, or DENIED).
 */
export interface AccessController {
  authorize(req: IncomingMessage, access: AccessRequest[]): Promise<void>;
}

/** No authentication configured: everything is allowed. */
export const allowAll: AccessController = {
  authorize: async () => {},
};
