import type { PolicyRule } from "../config/auth.js";

export type Action = "pull" | "push" | "delete";
export const allActions: readonly Action[] = ["pull", "push", "delete"];

/** Who is asking: a user of the htpasswd file, a robot, an OIDC workload, or nobody. */
export interface Principal {
  kind: "anonymous" | "user" | "robot" | "oidc";
  /**
   * The policy's name for them: a user name, `robot:<name>`, or `oidc:<subject>` (the OIDC subject
   * template's result). User names hold no colon, so a workload never passes for a user.
   */
  name: string;
  groups: readonly string[];
}

export const anonymous: Principal = { kind: "anonymous", name: "anonymous", groups: [] };

/** What one caller may do: routes and the catalog consult it; nothing else decides. */
export interface Grant {
  readonly principal: Principal;
  /** True when every action on every repository is allowed (no access control, or an admin). */
  readonly all: boolean;
  actions(repository: string): ReadonlySet<Action>;
}

export function allows(grant: Grant, repository: string, action: Action): boolean {
  return grant.all || grant.actions(repository).has(action);
}

/** No access control: everyone may do everything. */
export const unrestricted: Grant = { principal: anonymous, all: true, actions: () => new Set(allActions) };

/**
 * A repository glob: `*` and `?` stay within one path component, `**` crosses them (`team/**`
 * is everything under team/, `**` everything).
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      source += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

interface CompiledRule {
  patterns: RegExp[];
  users: ReadonlySet<string>;
  groups: ReadonlySet<string>;
  anonymous: boolean;
  actions: readonly Action[];
}

/** A fixed list of (repository patterns, actions) pairs: a robot's grant, or a token's claims. */
export class ScopedGrant implements Grant {
  readonly all = false;
  private readonly compiled: Array<{ patterns: RegExp[]; actions: readonly Action[] }>;

  constructor(
    readonly principal: Principal,
    entries: Array<{ repositories: readonly string[]; actions: readonly Action[] }>,
  ) {
    this.compiled = entries.map((e) => ({ patterns: e.repositories.map(globToRegExp), actions: e.actions }));
  }

  actions(repository: string): ReadonlySet<Action> {
    const found = new Set<Action>();
    for (const entry of this.compiled) {
      if (entry.patterns.some((p) => p.test(repository))) for (const a of entry.actions) found.add(a);
    }
    return found;
  }
}

/**
 * The configured policy. Without rules, every signed-in caller may do everything and the
 * anonymous nothing (registry:2's htpasswd behaviour); with rules, what no rule grants is denied.
 * Admins may do everything.
 */
export class Policy {
  private readonly rules: CompiledRule[] | undefined;

  constructor(
    rules: readonly PolicyRule[] | undefined,
    private readonly admins: { users: readonly string[]; groups: readonly string[] },
  ) {
    this.rules = rules?.map((r) => ({
      patterns: r.repositories.map(globToRegExp),
      users: new Set(r.users),
      groups: new Set(r.groups),
      anonymous: r.anonymous,
      actions: r.actions.includes("*") ? allActions : (r.actions as Action[]),
    }));
  }

  isAdmin(principal: Principal): boolean {
    if (principal.kind === "anonymous" || principal.kind === "robot") return false;
    return (principal.kind === "user" && this.admins.users.includes(principal.name)) || principal.groups.some((g) => this.admins.groups.includes(g));
  }

  grantFor(principal: Principal): Grant {
    if (this.isAdmin(principal) || (this.rules === undefined && principal.kind !== "anonymous")) {
      return { principal, all: true, actions: () => allActionsSet };
    }
    const mine = (this.rules ?? []).filter((r) =>
      principal.kind === "anonymous" ? r.anonymous : r.users.has(principal.name) || r.users.has("*") || principal.groups.some((g) => r.groups.has(g)),
    );
    const cache = new Map<string, ReadonlySet<Action>>();
    return {
      principal,
      all: false,
      actions(repository) {
        let found = cache.get(repository);
        if (found === undefined) {
          const set = new Set<Action>();
          for (const rule of mine) if (rule.patterns.some((p) => p.test(repository))) for (const a of rule.actions) set.add(a);
          found = set;
          if (cache.size < 1024) cache.set(repository, found);
        }
        return found;
      },
    };
  }
}

const allActionsSet: ReadonlySet<Action> = new Set(allActions);
