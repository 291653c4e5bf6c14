/** What the web UI's JSON endpoints answer (api.ts), shared by the server and the pages (web/). */

export const apiPrefix = "/api/v1/";

/** `GET /api/v1/session`: who is signed in, and the token every change must carry (X-CSRF-Token). */
export interface SessionView {
  user: string | null;
  /** Whether users sign in (access control is on). */
  signIn: boolean;
  csrf: string;
  /** May do everything: sees storage use and what a collection would free. */
  admin: boolean;
  /** Whether the registry deletes at all (storage.delete.enabled, not read-only). */
  deletes: boolean;
}

/** `GET /api/v1/storage` (admins): the last estimate of what the store holds and a collection would free. */
export interface StorageView {
  running: boolean;
  error: string | null;
  estimate: {
    at: string;
    durationMs: number;
    blobs: number;
    bytesStored: number;
    blobsFreed: number;
    bytesFreed: number;
    manifestsFreed: number;
    tagsRetired: number;
  } | null;
  /** Collections on a schedule (lading.gc.enabled), or null. */
  schedule: { intervalMs: number } | null;
  graceMs: number;
  deleteUntagged: boolean;
}

/** A page of tags, and whether the caller may delete them. */
export interface TagPage extends Page<TagRow> {
  canDelete: boolean;
}

export interface Page<T> {
  total: number;
  page: number;
  perPage: number;
  items: T[];
}

export interface RepositoryRow {
  name: string;
  tags: number;
  /** Bytes of the distinct blobs and manifests its tags reach. */
  size: number;
  /** When a tag was last pushed (ISO 8601), or null for a repository without tags. */
  lastPush: string | null;
}

export interface TagRow {
  tag: string;
  digest: string;
  mediaType: string;
  /** `os/architecture[/variant]` of an image, or of each image of an index. */
  platforms: string[];
  size: number;
  pushed: string | null;
}

export type TagSort = "tag" | "pushed" | "size";

/** What the image page shows of one manifest. */
export interface ImageView {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  tags: string[];
  artifactType: string | null;
  annotations: Record<string, string>;
  /** An index: its manifests, with their platforms. */
  manifests: { digest: string; mediaType: string; size: number; platform: string | null; artifactType: string | null }[];
  /** An image: its config and layers. */
  config: ConfigView | null;
  layers: { digest: string; mediaType: string; size: number; urls: string[] }[];
  history: { created: string | null; createdBy: string; comment: string | null; emptyLayer: boolean }[];
  referrers: ReferrerNode[];
}

export type ImageAnswer = ImageView & { canDelete: boolean };

export interface ConfigView {
  digest: string;
  mediaType: string;
  platform: string | null;
  created: string | null;
  user: string | null;
  workingDir: string | null;
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  stopSignal: string | null;
}

export interface ReferrerNode {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Record<string, string>;
  referrers: ReferrerNode[];
}
