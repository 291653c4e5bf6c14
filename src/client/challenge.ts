/** One challenge of a WWW-Authenticate header (RFC 7235): a scheme and its parameters. */
export interface Challenge {
  /** Lower-cased: "basic", "bearer", … */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value, which may hold several challenges:
 * `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull", Basic realm="x"`.
 */
export function parseChallenges(value: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = value.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(value[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && !" \t,=\"".includes(value[i]!)) i++;
    return value.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(" \t,");
    if (i >= n) break;
    const word = token();
    skip(" \t");
    if (value[i] === "=" && current !== undefined && value[i + 1] !== "=") {
      i++;
      skip(" \t");
      current.params[word.toLowerCase()] = value[i] === '"' ? quoted() : token();
    } else if (word !== "") {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    } else {
      i++;
    }
  }
  return out;

  function quoted(): string {
    let s = "";
    i++;
    while (i < n && value[i] !== '"') {
      if (value[i] === "\\" && i + 1 < n) i++;
      s += value[i];
      i++;
    }
    i++;
    return s;
  }
}

/** The access a request needs: `repository:NAME:pull,push` in token-auth terms. */
export interface Scope {
  type: "repository" | "registry";
  name: string;
  actions: string[];
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${[...new Set(scope.actions)].sort().join(",")}`;
}

/** Merges scopes naming the same resource so one token covers e.g. pull on a source and push on a target. */
export function mergeScopes(scopes: Scope[]): Scope[] {
  const byKey = new Map<string, Scope>();
  for (const s of scopes) {
    const key = `${s.type}:${s.name}`;
    const have = byKey.get(key);
    byKey.set(key, have ? { ...have, actions: [...new Set([...have.actions, ...s.actions])].sort() } : { ...s, actions: [...s.actions].sort() });
  }
  return [...byKey.values()].sort((a, b) => formatScope(a).localeCompare(formatScope(b)));
}

export const pull = (name: string): Scope => ({ type: "repository", name, actions: ["pull"] });
export const push = (name: string): Scope => ({ type: "repository", name, actions: ["pull", "push"] });
export const remove = (name: string): Scope => ({ type: "repository", name, actions: ["delete"] });
export const catalogScope: Scope = { type: "registry", name: "catalog", actions: ["*"] };
