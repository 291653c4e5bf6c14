/** Every workload, in the order a round runs them. */
import type { Workload } from "../scenarios.js";
import { authWorkload } from "./auth.js";
import { blobsWorkload } from "./blobs.js";
import { catalogWorkload } from "./catalog.js";
import { manifestsWorkload } from "./manifests.js";
import { mergeWorkload } from "./merge.js";
import { mountsWorkload } from "./mounts.js";
import { smallWorkload } from "./small.js";
import { tagsWorkload } from "./tags.js";

export const workloads: readonly Workload[] = [
  blobsWorkload("big"),
  blobsWorkload("huge"),
  smallWorkload,
  manifestsWorkload,
  tagsWorkload,
  catalogWorkload,
  mountsWorkload,
  mergeWorkload,
  authWorkload("anonymous"),
  authWorkload("basic"),
  authWorkload("bearer"),
];
