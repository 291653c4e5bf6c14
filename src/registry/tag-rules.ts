import { globToRegExp } from "../auth/policy.js";
import { RegistryError } from "../oci/errors.js";

/** Tags matching `tags` in repositories matching `repositories` (globs, as access rules write them). */
export interface TagRule {
  repositories: readonly string[];
  tags: readonly string[];
}

/**
 * Immutable tags (`lading.tags.immutable`): once such a tag exists, nothing may point it at another
 * manifest or remove it, neither a push, nor a delete, nor a retention policy. Pointing it at the
 * manifest it already names is no change, and allowed.
 */
export class ImmutableTags {
  private readonly rules: Array<{ index: number; rule: TagRule; repositories: RegExp[]; tags: RegExp[] }>;

  constructor(rules: readonly TagRule[] = []) {
    this.rules = rules.map((rule, index) => ({ index, rule, repositories: rule.repositories.map(globToRegExp), tags: rule.tags.map(globToRegExp) }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The rule making `name:tag` immutable, described for a message; undefined when none does. */
  ruleFor(name: string, tag: string): string | undefined {
    const found = this.rules.find((r) => r.repositories.some((re) => re.test(name)) && r.tags.some((re) => re.test(tag)));
    if (found === undefined) return undefined;
    return `lading.tags.immutable[${found.index}]: repositories ${found.rule.repositories.join(", ")}, tags ${found.rule.tags.join(", ")}`;
  }

  /** DENIED when `name:tag` is immutable; `doing` says what was refused. */
  check(name: string, tag: string, doing: string): void {
    const rule = this.ruleFor(name, tag);
    if (rule !== undefined) throw new RegistryError("DENIED", `tag ${tag} of ${name} is immutable (${rule}): it cannot be ${doing}`, { detail: { name, tag } });
  }
}
