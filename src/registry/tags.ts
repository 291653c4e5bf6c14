import type { Digest } from "../oci/digest.js";
import { RegistryError } from "../oci/errors.js";
import { isPathNotFound, type Mutation, type StorageDriver } from "../storage/driver.js";
import { manifestsPath, tagCurrentLinkPath, tagIndexLinkPath, tagPath, tagsPath } from "../storage/paths.js";
import { deleteIfExists, linkMutation, readLink } from "./links.js";
import { KeyedQueue } from "./lock.js";
import { keyBytes, Lru } from "./lru.js";
import { insertSorted, paginate } from "./sorted.js";
import { writable, type WritePolicy } from "./write-policy.js";
import { writeAll } from "../storage/ops.js";
import { coherenceFor, type Coherence } from "./coherence.js";
import { ImmutableTags } from "./tag-rules.js";
import { inParallel } from "../image/parallel.js";

export interface TagPage {
  /** The list the page was cut from. */
  of: readonly string[];
  /** `{"name": ..., "tags": [...]}`, as sent. */
  body: Buffer;
  /** The page's last tag when more follow (the `last` of the next page). */
  next: string | undefined;
}

/**
 * Tags: `_manifests/tags/<tag>/current/link` names the manifest; `index/` keeps its history.
 * On a store of its own, what this process has read or written is cached and its own writes keep
 * the cache exact; on a shared store every read goes to storage (coherence.ts).
 */
export class TagStore {
  /** Tag → digest; a digest's strings cost about 200 bytes. */
  private readonly current = new Lru<string, Digest>(2 << 20, (_, key) => keyBytes(key) + 200);
  private readonly lists = new Lru<string, string[]>(4 << 20, (tags, key) => keyBytes(key) + tags.length * 48);
  /** Serialized pages of the lists above, each valid while its list is the current one. */
  private readonly pages = new Lru<string, TagPage>(2 << 20, (page, key) => keyBytes(key) + 128 + page.body.length);
  /** Writes to one tag are serialized so that the cache ends as storage does. */
  private readonly writes = new KeyedQueue();
  /** How many times this process has changed a repository's tags (what the web UI's tables are kept by). */
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly policy: WritePolicy = writable,
    private readonly coherence: Coherence = coherenceFor(driver),
    private readonly immutable: ImmutableTags = new ImmutableTags(),
  ) {}

  async resolve(name: string, tag: string): Promise<Digest | undefined> {
    if (!this.coherence.cacheTags) return readLink(this.driver, tagCurrentLinkPath(name, tag));
    const key = `${name}\n${tag}`;
    const cached = this.current.get(key);
    if (cached) return cached;
    const digest = await readLink(this.driver, tagCurrentLinkPath(name, tag));
    if (digest) this.current.set(key, digest);
    return digest;
  }

  /** Points a tag at a manifest. */
  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    this.policy.write();
    await this.tagWith(name, [tag], digest, []);
  }

  /**
   * Points tags at a manifest, writing `prior` (what the manifest needs stored first) in the same
   * durable batch. Each tag's index link comes before its current link, so a crash never leaves the
   * current link unindexed (nor, as `prior` comes first, naming a manifest that is not stored).
   */
  async tagWith(name: string, tags: readonly string[], digest: Digest, prior: readonly Mutation[]): Promise<void> {
    const keys = tags.map((tag) => `${name}\n${tag}`);
    await this.writes.runAll(keys, async () => {
      for (const tag of tags) {
        if (this.immutable.ruleFor(name, tag) === undefined) continue;
        const current = await this.resolve(name, tag);
        if (current !== undefined && current.value !== digest.value) this.immutable.check(name, tag, `moved from ${current.value} to ${digest.value}`);
      }
      const changed = tags.filter((tag) => this.current.get(`${name}\n${tag}`)?.value !== digest.value);
      const mutations = [...prior];
      for (const tag of changed) {
        this.current.delete(`${name}\n${tag}`);
        mutations.push(linkMutation(tagIndexLinkPath(name, tag, digest), digest), linkMutation(tagCurrentLinkPath(name, tag), digest));
      }
      await writeAll(this.driver, mutations);
      if (changed.length > 0) this.changed(name);
      if (!this.coherence.cacheTags) return;
      for (const tag of changed) {
        this.current.set(`${name}\n${tag}`, digest);
        const list = this.lists.get(name);
        if (list && !list.includes(tag)) this.lists.set(name, insertSorted(list, tag));
      }
    });
  }

  async untag(name: string, tag: string): Promise<boolean> {
    this.policy.remove();
    return this.remove(name, tag, undefined);
  }

  /**
   * Removes a tag if it still names `digest` (a retention policy's decision, made before): false
   * when it names something else by now, or is gone. Immutable tags are refused.
   */
  async untagIf(name: string, tag: string, digest: Digest): Promise<boolean> {
    return this.remove(name, tag, digest);
  }

  private async remove(name: string, tag: string, expected: Digest | undefined): Promise<boolean> {
    if (this.immutable.ruleFor(name, tag) !== undefined && (await this.resolve(name, tag)) !== undefined) this.immutable.check(name, tag, "deleted");
    const key = `${name}\n${tag}`;
    return this.writes.run(key, async () => {
      if (expected !== undefined) {
        this.current.delete(key);
        const current = await this.resolve(name, tag);
        if (current?.value !== expected.value) return false;
      }
      this.current.delete(key);
      this.lists.delete(name);
      const removed = await deleteIfExists(this.driver, tagPath(name, tag));
      this.changed(name);
      return removed;
    });
  }

  /** Changes with every tag this process points, moves or removes in the repository. */
  version(name: string): number {
    return this.versions.get(name) ?? 0;
  }

  private changed(name: string): void {
    this.versions.set(name, this.version(name) + 1);
  }

  /**
   * All tags, sorted; NAME_UNKNOWN when the repository has never held a manifest. A tag directory
   * without a current link (a crash between creating the directory and writing the link, here or
   * in registry:2) is not a tag.
   */
  async list(name: string): Promise<string[]> {
    const cached = this.lists.get(name);
    if (cached) return cached;
    try {
      const names = (await this.driver.list(tagsPath(name))).sort();
      // Shared: read through, as registry:2 lists them (a name per tag directory, not resolved).
      if (!this.coherence.cacheTags) return names;
      const resolved = await inParallel(names, 32, (tag) => this.resolve(name, tag));
      const tags = names.filter((_, i) => resolved[i] !== undefined);
      this.lists.set(name, tags);
      return tags;
    } catch (err) {
      if (!isPathNotFound(err)) throw err;
    }
    try {
      await this.driver.stat(manifestsPath(name));
    } catch (err) {
      if (isPathNotFound(err)) throw new RegistryError("NAME_UNKNOWN", `repository ${name} not known to registry`, { detail: { name } });
      throw err;
    }
    return [];
  }

  /**
   * One page of the tag list as the API sends it (`{"name", "tags"}`, JSON), at most `n` tags
   * after `last`. The serialized page is kept while the list it came from is current: a list is
   * replaced, never changed, when a tag comes or goes, so a kept page is never stale.
   */
  async page(name: string, n: number | undefined, last: string | undefined): Promise<TagPage> {
    if (!this.coherence.cacheTags && n !== undefined) return this.pageThrough(name, n, last);
    const tags = await this.list(name);
    // Unambiguous: a repository name holds no newline and n is a number; `last`, if any, is the rest.
    const key = last === undefined ? `${name}\n${n ?? ""}` : `${name}\n${n ?? ""}\n${last}`;
    const kept = this.pages.get(key);
    if (kept?.of === tags) return kept;
    const { items, more } = paginate(tags, n, last);
    const page = { of: tags, body: Buffer.from(JSON.stringify({ name, tags: items })), next: more ? items.at(-1) : undefined };
    this.pages.set(key, page);
    return page;
  }

  /**
   * A page read through from a shared store: only the names after `last`, one more than the page
   * holds to know whether more follow (an object store lists them a thousand to a request).
   */
  private async pageThrough(name: string, n: number, last: string | undefined): Promise<TagPage> {
    let names: string[];
    try {
      names = await this.driver.list(tagsPath(name), { ...(last === undefined ? {} : { after: last }), limit: n + 1 });
    } catch (err) {
      if (!isPathNotFound(err)) throw err;
      names = await this.list(name);
    }
    const items = names.slice(0, n);
    const next = names.length > n && n > 0 ? items.at(-1) : undefined;
    return { of: names, body: Buffer.from(JSON.stringify({ name, tags: items })), next };
  }

  /** Whether a tag may never be moved or removed once it exists (lading.tags.immutable). */
  isImmutable(name: string, tag: string): boolean {
    return this.immutable.ruleFor(name, tag) !== undefined;
  }

  /** DENIED when an existing tag is immutable (lading.tags.immutable). */
  refuseImmutable(name: string, tag: string, doing: string): void {
    this.immutable.check(name, tag, doing);
  }

  /** Tags currently pointing at `digest`. */
  async tagsOf(name: string, digest: Digest): Promise<string[]> {
    const found: string[] = [];
    for (const tag of await this.list(name).catch(() => [])) {
      const current = await this.resolve(name, tag).catch(() => undefined);
      if (current?.value === digest.value) found.push(tag);
    }
    return found;
  }
}
